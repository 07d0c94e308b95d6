"""The offset clock `forecourt simulate` moves every service's time with, and where it is
refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.clock import OffsetClock, SystemClock, service_clock
from shared.settings import CommonSettings, UnsafeSettings

STRONG = "k3J9-a-long-random-value-of-more-than-32-bytes"


def test_the_offset_written_is_added_to_the_system_time(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    clock = OffsetClock(path)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)  # no file: no offset
    OffsetClock.write(path, timedelta(days=3))
    assert abs(clock.now() - datetime.now(UTC) - timedelta(days=3)) < timedelta(seconds=5)
    OffsetClock.write(path, timedelta(days=-400, hours=2))
    assert clock.offset() == timedelta(days=-400, hours=2)


def test_an_unreadable_offset_keeps_the_last_one(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    OffsetClock.write(path, timedelta(hours=5))
    clock = OffsetClock(path)
    assert clock.offset() == timedelta(hours=5)
    path.write_text("half-writ")
    assert clock.offset() == timedelta(hours=5)


def test_a_service_runs_on_the_system_clock_without_a_clock_file(tmp_path: Path) -> None:
    assert isinstance(service_clock(None), SystemClock)
    assert isinstance(service_clock(str(tmp_path / "clock")), OffsetClock)


def test_a_clock_file_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORECOURT_ENV", raising=False)
    settings = CommonSettings(jwt_secret=SecretStr(STRONG), clock_file="/tmp/clock")  # noqa: S108
    with pytest.raises(UnsafeSettings, match="FORECOURT_CLOCK_FILE"):
        settings.check_safe()
    CommonSettings(
        env="development",
        jwt_secret=SecretStr(STRONG),
        clock_file="/tmp/clock",  # noqa: S108
    ).check_safe()

"""The signing key a service refuses outside development (FORECOURT_ENV)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from intake.config import IntakeSettings
from shared.runtime import serve
from shared.settings import DEVELOPMENT_JWT_SECRET, CommonSettings, UnsafeSettings

STRONG = "k3J9-a-long-random-value-of-more-than-32-bytes"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORECOURT_ENV", "FORECOURT_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_production_is_the_default_and_refuses_the_development_key() -> None:
    settings = CommonSettings()
    assert settings.env == "production"
    with pytest.raises(UnsafeSettings, match="development key"):
        settings.check_safe()


def test_a_short_key_is_refused_outside_development() -> None:
    settings = CommonSettings(jwt_secret=SecretStr("x" * 31))
    with pytest.raises(UnsafeSettings, match="31 bytes"):
        settings.check_safe()


def test_a_long_random_key_is_accepted_in_production() -> None:
    CommonSettings(jwt_secret=SecretStr(STRONG)).check_safe()
    CommonSettings(jwt_secret=SecretStr("é" * 16)).check_safe()  # 32 bytes in UTF-8


def test_development_accepts_the_development_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECOURT_ENV", "development")
    settings = CommonSettings()
    assert settings.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET
    settings.check_safe()


def test_an_unknown_environment_name_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECOURT_ENV", "dev")
    with pytest.raises(ValidationError, match="env"):
        CommonSettings()


def test_a_service_read_from_the_environment_inherits_the_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(UnsafeSettings):
        IntakeSettings().common.check_safe()
    monkeypatch.setenv("FORECOURT_JWT_SECRET", STRONG)
    IntakeSettings().common.check_safe()


def test_serve_refuses_to_start_before_building_the_app() -> None:
    built: list[Any] = []
    with pytest.raises(SystemExit, match="refusing to start: FORECOURT_JWT_SECRET"):
        serve(built.append, IntakeSettings(), "intake.entrypoints.http.app:create_app")
    assert built == []

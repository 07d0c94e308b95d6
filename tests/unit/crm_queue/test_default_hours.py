"""The dealer group's default opening hours, read in each dealership's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_queue.domain.default_hours import DefaultHours
from crm_queue.domain.policy import Policy


def test_standard_hours_are_weekdays_nine_to_seven_and_saturday_to_five() -> None:
    week = DefaultHours.standard().to_json()["week"]
    assert [week[d] for d in ("mon", "fri", "sat", "sun")] == [
        [["09:00", "19:00"]],
        [["09:00", "19:00"]],
        [["09:00", "17:00"]],
        [],
    ]


def test_the_same_hours_fall_at_different_moments_in_each_zone() -> None:
    night = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 03:00 UTC
    hours = DefaultHours.standard()
    berlin = Policy(hours=hours.in_zone("Europe/Berlin")).sla_due_at(night, "website")
    toronto = Policy(hours=hours.in_zone("America/Toronto")).sla_due_at(night, "website")
    assert berlin == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)  # 09:15 CET
    assert toronto == datetime(2026, 3, 2, 14, 15, tzinfo=UTC)  # 09:15 EST
    assert toronto - berlin == timedelta(hours=6)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"week": {}}, "week"),
        ({"week": {"mon": [["09:00", "19:00"]]}, "timezone": "UTC"}, "timezone"),
        ({"week": {"xyz": []}}, "week.xyz"),
        ([], "hours"),
    ],
)
def test_hours_that_cannot_work_are_refused(data: object, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        DefaultHours.from_json(data)

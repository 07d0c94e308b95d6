from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from crm_queue.domain import OpeningHours, Policy
from crm_queue.domain.durations import format_duration, parse_duration

HOURS = {"timezone": "Europe/Berlin", "week": {"mon": [["08:00", "18:00"]]}}


def test_defaults_follow_the_spec() -> None:
    policy = Policy.default("Europe/Berlin")
    assert policy.hours == OpeningHours.always_open("Europe/Berlin")
    assert policy.sla == timedelta(minutes=15)
    assert (policy.min_attempts, policy.min_days, policy.min_channels) == (6, 5, 2)
    assert policy.min_attempt_days == 3
    assert policy.lease == timedelta(minutes=10)
    assert policy.pool_period == timedelta(days=30)
    assert policy.second_round == (timedelta(days=7), timedelta(days=7))
    # The first round's six attempts span at least the five days "not reached" needs.
    assert len(policy.first_round) + 1 == policy.min_attempts
    assert sum(policy.first_round, timedelta()) >= timedelta(days=policy.min_days)


def test_json_round_trip() -> None:
    policy = Policy(
        hours=OpeningHours.from_json(HOURS),
        sla=timedelta(minutes=30),
        min_attempts=4,
        min_days=3,
        min_channels=3,
        first_round=(timedelta(hours=1), timedelta(days=1, hours=12), timedelta(days=2)),
        second_round=(timedelta(days=14),),
        lease=timedelta(minutes=5),
    )
    data = policy.to_json()
    assert data["sla"] == "PT30M"
    assert data["first_round"] == ["PT1H", "P1DT12H", "P2D"]
    assert Policy.from_json(data) == policy
    assert Policy.from_json(Policy.default().to_json()) == Policy.default()


def test_json_fields_left_out_take_their_default() -> None:
    policy = Policy.from_json({"hours": HOURS, "min_attempts": 4})
    assert (policy.min_attempts, policy.min_attempt_days) == (4, 3)
    # Never more different days than attempts (a policy stored before the field existed).
    assert Policy.from_json({"hours": HOURS, "min_attempts": 2}).min_attempt_days == 2
    assert policy.sla == timedelta(minutes=15)
    assert policy.hours.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sla": "15 minutes"}, "sla"),
        ({"sla": "PT0S"}, "sla"),
        ({"sla": 900}, "sla"),
        ({"lease": "P1D"}, "lease"),
        ({"pool_period": "PT0S"}, "pool_period"),
        ({"pool_period": "P400D"}, "pool_period"),
        ({"min_attempts": -1}, "min_attempts"),
        ({"min_attempts": 0}, "min_attempts"),
        ({"min_attempts": "6"}, "min_attempts"),
        ({"min_attempts": True}, "min_attempts"),
        ({"min_attempts": 9}, "min_attempts"),  # more than the rounds ever schedule
        ({"min_attempt_days": 7}, "min_attempt_days"),  # more days than attempts
        ({"min_attempt_days": -1}, "min_attempt_days"),
        ({"min_days": 2.5}, "min_days"),
        ({"min_channels": 0}, "min_channels"),
        ({"min_channels": 5}, "min_channels"),
        ({"first_round": ["P1D", "soon"]}, "first_round[1]"),
        ({"first_round": ["P1D", "PT0S"]}, "first_round[1]"),
        ({"second_round": "P7D"}, "second_round"),
        ({"second_round": ["P1D"] * 31}, "second_round"),
        ({"min_attempt": 6}, "min_attempt"),
        ({"hours": None}, "hours"),
        ({"hours": {"timezone": "Nowhere/Town"}}, "hours.timezone"),
        ({"hours": {"timezone": "UTC", "week": {"mon": [["9", "17"]]}}}, "hours.week.mon[0]"),
    ],
)
def test_json_validation_names_the_field(changes: dict[str, Any], field: str) -> None:
    data = {**Policy.default().to_json(), **changes}
    with pytest.raises(ValueError) as excinfo:
        Policy.from_json(data)
    assert str(excinfo.value).startswith(f"{field}:"), excinfo.value


def test_json_must_be_an_object_with_hours() -> None:
    with pytest.raises(ValueError, match=r"^policy:"):
        Policy.from_json([])
    with pytest.raises(ValueError, match=r"^hours:"):
        Policy.from_json({"sla": "PT15M"})


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("PT15M", timedelta(minutes=15), "PT15M"),
        ("P1DT12H", timedelta(days=1, hours=12), "P1DT12H"),
        ("P2W", timedelta(days=14), "P14D"),
        ("PT90M", timedelta(minutes=90), "PT1H30M"),
        ("PT1.5S", timedelta(seconds=1.5), "PT1.500000S"),
        ("PT0S", timedelta(0), "PT0S"),
    ],
)
def test_iso_durations(text: str, value: timedelta, canonical: str) -> None:
    assert parse_duration(text, "x") == value
    assert format_duration(value) == canonical
    assert parse_duration(canonical, "x") == value


@pytest.mark.parametrize("text", ["P", "PT", "P1M", "P1Y", "1D", "PT-5M", "P1DT", ""])
def test_iso_durations_without_fixed_length_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^gap:"):
        parse_duration(text, "gap")


def _mondays(first: str, weeks: int) -> list[str]:
    start = date.fromisoformat(first)
    return [(start + timedelta(weeks=w)).isoformat() for w in range(weeks)]


@pytest.mark.parametrize(
    ("hours", "field"),
    [
        ({"timezone": "UTC"}, "hours.week"),
        ({"timezone": "UTC", "week": {"mon": [], "sun": []}}, "hours.week"),
        # Open on Mondays only, and every Monday of more than a year is a holiday.
        (
            {
                "timezone": "UTC",
                "week": {"mon": [["09:00", "17:00"]]},
                "closed_dates": _mondays("2026-03-02", 53),
            },
            "hours.closed_dates",
        ),
        (
            {
                "timezone": "UTC",
                "week": {"mon": [["09:00", "17:00"]]},
                "closed_dates": _mondays("2026-03-02", 1001),
            },
            "hours.closed_dates",
        ),
    ],
)
def test_hours_that_never_open_are_refused(hours: dict[str, Any], field: str) -> None:
    """Such a policy made every later lead of the dealership fail (dead-lettered)."""
    with pytest.raises(ValueError) as excinfo:
        Policy.from_json({"hours": hours})
    assert str(excinfo.value).startswith(f"{field}:"), excinfo.value


def test_long_closures_that_end_are_accepted() -> None:
    hours = {
        "timezone": "UTC",
        "week": {"mon": [["09:00", "17:00"]]},
        "closed_dates": _mondays("2026-03-02", 40),
    }
    policy = Policy.from_json({"hours": hours})
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert policy.hours.next_opening(start) == start + timedelta(weeks=40)


def test_a_duration_beyond_any_calendar_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"sla: .* longer than any calendar"):
        parse_duration("P99999999999D", "sla")

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_queue.domain import OpeningHours
from tests.unit.crm_queue.support import TORONTO_HOURS

TORONTO = ZoneInfo("America/Toronto")
BERLIN = ZoneInfo("Europe/Berlin")
SLA = timedelta(minutes=15)


def local(
    year: int, month: int, day: int, hour: int, minute: int = 0, zone: ZoneInfo = TORONTO
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def every_day(*intervals: tuple[time, time], zone: str = "America/Toronto") -> OpeningHours:
    return OpeningHours(zone, {day: intervals for day in range(7)})


def test_inside_opening_hours_the_sla_is_plain_time() -> None:
    assert TORONTO_HOURS.add_working_time(local(2026, 3, 10, 9), SLA) == local(2026, 3, 10, 9, 15)


def test_result_is_utc() -> None:
    due = TORONTO_HOURS.add_working_time(local(2026, 3, 10, 9), SLA)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 10, 13, 15, tzinfo=UTC)  # EDT is UTC-4


def test_a_night_arrival_is_due_fifteen_minutes_after_opening() -> None:
    due = TORONTO_HOURS.add_working_time(local(2026, 3, 10, 22, 40), SLA)
    assert due == local(2026, 3, 11, 8, 15)


def test_the_lunch_break_does_not_count() -> None:
    due = TORONTO_HOURS.add_working_time(local(2026, 3, 10, 11, 50), SLA)
    assert due == local(2026, 3, 10, 13, 5)


def test_the_weekend_does_not_count() -> None:
    # Saturday 12:50: ten minutes left on Saturday, Sunday closed, five minutes on Monday.
    assert TORONTO_HOURS.add_working_time(local(2026, 3, 14, 12, 50), SLA) == local(
        2026, 3, 16, 8, 5
    )
    assert TORONTO_HOURS.add_working_time(local(2026, 3, 15, 10), SLA) == local(2026, 3, 16, 8, 15)


def test_a_public_holiday_is_closed_all_day() -> None:
    hours = OpeningHours(
        TORONTO_HOURS.timezone, TORONTO_HOURS.week, frozenset({date(2026, 12, 25)})
    )
    # Thursday 17:55: five minutes before closing, Friday 25 December closed, Saturday 09:10.
    assert hours.add_working_time(local(2026, 12, 24, 17, 55), SLA) == local(2026, 12, 26, 9, 10)
    assert not hours.is_open(local(2026, 12, 25, 10))
    assert TORONTO_HOURS.is_open(local(2026, 12, 25, 10))


def test_the_end_of_an_interval_is_exclusive() -> None:
    assert TORONTO_HOURS.is_open(local(2026, 3, 10, 8))
    assert TORONTO_HOURS.is_open(local(2026, 3, 10, 11, 59))
    assert not TORONTO_HOURS.is_open(local(2026, 3, 10, 12))
    assert not TORONTO_HOURS.is_open(local(2026, 3, 10, 18))
    assert not TORONTO_HOURS.is_open(local(2026, 3, 15, 10))  # Sunday
    # Due exactly at closing time is fine: the 15 minutes fit before the door shuts.
    assert TORONTO_HOURS.add_working_time(local(2026, 3, 10, 17, 45), SLA) == local(2026, 3, 10, 18)


def test_is_open_converts_from_any_zone() -> None:
    assert TORONTO_HOURS.is_open(datetime(2026, 3, 10, 13, 30, tzinfo=UTC))  # 09:30 EDT
    assert not TORONTO_HOURS.is_open(datetime(2026, 3, 10, 11, 30, tzinfo=UTC))  # 07:30 EDT


def test_dst_spring_forward_toronto() -> None:
    sunday = every_day((time(8), time(18)))
    # Saturday night in EST, due Sunday 08:15 in EDT: 12:15 UTC, not 13:15.
    due = sunday.add_working_time(local(2026, 3, 7, 22), SLA)
    assert due == datetime(2026, 3, 8, 12, 15, tzinfo=UTC)
    # The night interval 00:00-06:00 on 8 March holds only five real hours.
    night = every_day((time(0), time(6)))
    start = local(2026, 3, 8, 0)
    assert night.add_working_time(start, timedelta(hours=5)) == local(2026, 3, 8, 6)
    assert night.add_working_time(start, timedelta(hours=5, minutes=1)) == local(2026, 3, 9, 0, 1)


def test_dst_fall_back_toronto() -> None:
    sunday = every_day((time(8), time(18)))
    due = sunday.add_working_time(local(2026, 10, 31, 22), SLA)
    assert due == datetime(2026, 11, 1, 13, 15, tzinfo=UTC)  # 08:15 EST
    # 00:00-06:00 on 1 November holds seven real hours (01:00-02:00 happens twice).
    night = every_day((time(0), time(6)))
    start = local(2026, 11, 1, 0)
    assert night.add_working_time(start, timedelta(hours=7)) == local(2026, 11, 1, 6)
    assert night.add_working_time(start, timedelta(hours=7, minutes=1)) == local(2026, 11, 2, 0, 1)


def test_dst_spring_forward_berlin() -> None:
    night = every_day((time(0), time(6)), zone="Europe/Berlin")
    start = local(2026, 3, 29, 0, zone=BERLIN)
    assert night.add_working_time(start, timedelta(hours=5)) == local(2026, 3, 29, 6, zone=BERLIN)
    assert night.add_working_time(start, timedelta(hours=6)) == local(2026, 3, 30, 1, zone=BERLIN)
    # A working day across the change still starts at 08:00 local time.
    day = every_day((time(8), time(18)), zone="Europe/Berlin")
    due = day.add_working_time(local(2026, 3, 28, 20, zone=BERLIN), SLA)
    assert due == datetime(2026, 3, 29, 6, 15, tzinfo=UTC)  # 08:15 CEST


def test_an_interval_may_run_until_midnight_and_continue_the_next_day() -> None:
    # A night shift: Monday 22:00-24:00 then Tuesday 00:00-02:00.
    hours = OpeningHours("UTC", {0: ((time(22), time(0)),), 1: ((time(0), time(2)),)})
    monday = datetime(2026, 3, 2, 23, 50, tzinfo=UTC)
    assert hours.is_open(monday)
    assert hours.add_working_time(monday, timedelta(minutes=20)) == datetime(
        2026, 3, 3, 0, 10, tzinfo=UTC
    )


def test_always_open_counts_plain_time() -> None:
    hours = OpeningHours.always_open("America/Toronto")
    start = local(2026, 3, 8, 1, 50)  # across the spring-forward gap
    assert hours.is_open(start)
    # Real elapsed time: 01:50 EST + 15 minutes is 03:05 EDT (Python's wall-clock `+` says 02:05).
    assert hours.add_working_time(start, SLA) == start.astimezone(UTC) + SLA
    assert hours.add_working_time(start, SLA) == local(2026, 3, 8, 3, 5)
    assert OpeningHours.always_open().timezone == "UTC"


def test_zero_delta_is_the_next_opening() -> None:
    assert TORONTO_HOURS.next_opening(local(2026, 3, 10, 12, 30)) == local(2026, 3, 10, 13)
    assert TORONTO_HOURS.next_opening(local(2026, 3, 10, 9)) == local(2026, 3, 10, 9)


def test_never_open_raises_instead_of_looping() -> None:
    with pytest.raises(ValueError, match="no opening time"):
        OpeningHours("UTC", {}).add_working_time(datetime(2026, 1, 1, tzinfo=UTC), SLA)


def test_naive_datetimes_and_negative_deltas_are_refused() -> None:
    with pytest.raises(ValueError, match="start"):
        TORONTO_HOURS.add_working_time(datetime(2026, 3, 10, 9), SLA)
    with pytest.raises(ValueError, match="at"):
        TORONTO_HOURS.is_open(datetime(2026, 3, 10, 9))
    with pytest.raises(ValueError, match="delta"):
        TORONTO_HOURS.add_working_time(local(2026, 3, 10, 9), -SLA)


# -- JSON ---------------------------------------------------------------------------------------

TORONTO_JSON = {
    "timezone": "America/Toronto",
    "week": {
        "mon": [["08:00", "12:00"], ["13:00", "18:00"]],
        "tue": [["08:00", "12:00"], ["13:00", "18:00"]],
        "wed": [["08:00", "12:00"], ["13:00", "18:00"]],
        "thu": [["08:00", "12:00"], ["13:00", "18:00"]],
        "fri": [["08:00", "12:00"], ["13:00", "18:00"]],
        "sat": [["09:00", "13:00"]],
        "sun": [],
    },
    "closed_dates": ["2026-07-01", "2026-12-25"],
}


def test_json_round_trip() -> None:
    hours = OpeningHours.from_json(TORONTO_JSON)
    assert hours.week == TORONTO_HOURS.week
    assert hours.closed_dates == {date(2026, 12, 25), date(2026, 7, 1)}
    assert hours.to_json() == TORONTO_JSON
    assert OpeningHours.from_json(hours.to_json()) == hours
    assert hash(OpeningHours.from_json(hours.to_json())) == hash(hours)


def test_json_missing_days_are_closed_and_24_00_is_midnight() -> None:
    hours = OpeningHours.from_json({"timezone": "UTC", "week": {"fri": [["20:00", "24:00"]]}})
    assert hours.week[4] == ((time(20), time(0)),)
    assert hours.week[0] == ()
    assert hours.to_json()["week"]["fri"] == [["20:00", "24:00"]]
    assert OpeningHours.always_open().to_json()["week"]["mon"] == [["00:00", "24:00"]]


def test_intervals_are_sorted() -> None:
    hours = OpeningHours.from_json(
        {"timezone": "UTC", "week": {"mon": [["13:00", "18:00"], ["08:00", "12:00"]]}}
    )
    assert hours.week[0] == ((time(8), time(12)), (time(13), time(18)))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"timezone": "Mars/Olympus", "week": {}}, "timezone"),
        ({"timezone": "", "week": {}}, "timezone"),
        ({"week": {}}, "timezone"),
        ({"timezone": "UTC", "week": {"funday": []}}, "week.funday"),
        ({"timezone": "UTC", "week": {"mon": [["25:00", "26:00"]]}}, "week.mon[0]"),
        ({"timezone": "UTC", "week": {"mon": [["8:00", "12:00"]]}}, "week.mon[0]"),
        ({"timezone": "UTC", "week": {"mon": [["24:00", "12:00"]]}}, "week.mon[0]"),
        ({"timezone": "UTC", "week": {"mon": [["20:00", "00:00"]]}}, "week.mon[0]"),
        ({"timezone": "UTC", "week": {"mon": [["18:00", "08:00"]]}}, "week.mon[0]"),
        ({"timezone": "UTC", "week": {"tue": [["08:00"]]}}, "week.tue[0]"),
        ({"timezone": "UTC", "week": {"tue": "08:00-18:00"}}, "week.tue"),
        (
            {"timezone": "UTC", "week": {"wed": [["08:00", "12:30"], ["12:00", "18:00"]]}},
            "week.wed",
        ),
        ({"timezone": "UTC", "week": []}, "week"),
        ({"timezone": "UTC", "closed_dates": ["25/12/2026"]}, "closed_dates[0]"),
        ({"timezone": "UTC", "closed_dates": "2026-12-25"}, "closed_dates"),
        ({"timezone": "UTC", "holidays": []}, "holidays"),
    ],
)
def test_json_validation_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        OpeningHours.from_json(data)
    assert str(excinfo.value).startswith(f"{field}:"), excinfo.value


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match=r"^week: unknown day 7"):
        OpeningHours("UTC", {7: ()})
    with pytest.raises(ValueError, match=r"^week.mon: intervals 08:00-12:00 and 11:00-24:00"):
        OpeningHours("UTC", {0: ((time(8), time(12)), (time(11), time(0)))})
    with pytest.raises(ValueError, match=r"^timezone"):
        OpeningHours("Europe/Nowhere", {})

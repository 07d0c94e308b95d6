"""A dealership's opening hours, and SLA time counted only while it is open.

Rules, chosen so a configuration has exactly one reading:
- `week` maps a weekday (0 = Monday .. 6 = Sunday) to its open intervals in local wall time,
  start inclusive, end exclusive. An interval never crosses midnight: an end of `time(0)`
  (written "24:00" in JSON) means "until midnight at the end of that day"; a night shift is two
  intervals, "22:00-24:00" on one day and "00:00-06:00" on the next. A missing weekday is closed.
- `closed_dates` (public holidays) close the whole local day.
- Working time is real elapsed time: on a DST day an 08:00-18:00 interval holds 10 real hours.
  A wall time that does not exist (inside the spring-forward gap) or exists twice (inside the
  fall-back hour) is read with `fold=0`, the offset before the change, as `zoneinfo` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_queue.domain._time import as_utc

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = time(0)
# A dealership closed for a whole year is a configuration error, not a reason to loop forever.
MAX_CLOSED_DAYS = 366
MAX_CLOSED_DATES = 1000  # public holidays for years ahead; more is a mistake, not a calendar

Interval = tuple[time, time]

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def zone_of(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone called `name`; ValueError naming `field` for anything else."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{field}: expected an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"{field}: unknown time zone {name!r}") from exc


def _seconds(at: time) -> int:
    return at.hour * 3600 + at.minute * 60 + at.second


def _end_seconds(end: time) -> int:
    return 86400 if end == MIDNIGHT else _seconds(end)


def _fmt(at: time, *, end: bool = False) -> str:
    if end and at == MIDNIGHT:
        return "24:00"
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def _normalise_day(field: str, intervals: Any) -> tuple[Interval, ...]:
    """Sorted, validated intervals of one day: naive times, start before end, no overlap."""
    if not isinstance(intervals, tuple | list):
        raise ValueError(f"{field}: expected a list of (start, end) intervals")
    checked: list[Interval] = []
    for i, interval in enumerate(intervals):
        where = f"{field}[{i}]"
        if not isinstance(interval, tuple | list) or len(interval) != 2:
            raise ValueError(f"{where}: expected a (start, end) pair")
        start, end = interval
        if not isinstance(start, time) or not isinstance(end, time):
            raise ValueError(f"{where}: start and end must be times")
        if any(t.tzinfo is not None or t.microsecond for t in (start, end)):
            raise ValueError(f"{where}: times are local wall times, no zone, no microseconds")
        if _seconds(start) >= _end_seconds(end):
            raise ValueError(
                f"{where}: start {_fmt(start)} is not before end {_fmt(end, end=True)}"
            )
        checked.append((start, end))
    checked.sort(key=lambda iv: _seconds(iv[0]))
    for (s1, e1), (s2, e2) in pairwise(checked):
        if _end_seconds(e1) > _seconds(s2):
            raise ValueError(
                f"{field}: intervals {_fmt(s1)}-{_fmt(e1, end=True)} and "
                f"{_fmt(s2)}-{_fmt(e2, end=True)} overlap"
            )
    return tuple(checked)


def _parse_time(value: Any, where: str, *, end: bool) -> time:
    if end and value == "24:00":
        return MIDNIGHT
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{where}: {value!r} is not a time HH:MM (24:00 only as an end)")
    parsed = time(int(match[1]), int(match[2]), int(match[3] or 0))
    if end and parsed == MIDNIGHT:
        raise ValueError(f"{where}: an interval ending at midnight ends at '24:00', not '00:00'")
    return parsed


@dataclass(frozen=True)
class OpeningHours:
    timezone: str
    week: Mapping[int, tuple[Interval, ...]]
    closed_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        zone_of(self.timezone)
        if not isinstance(self.week, Mapping):
            raise ValueError("week: expected a mapping of weekday to intervals")
        week: dict[int, tuple[Interval, ...]] = {day: () for day in range(7)}
        for day, intervals in self.week.items():
            if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
                raise ValueError(f"week: unknown day {day!r} (0 = Monday .. 6 = Sunday)")
            week[day] = _normalise_day(f"week.{DAY_NAMES[day]}", intervals)
        if len(self.closed_dates) > MAX_CLOSED_DATES:
            raise ValueError(f"closed_dates: at most {MAX_CLOSED_DATES} dates")
        for i, closed in enumerate(self.closed_dates):
            if not isinstance(closed, date) or isinstance(closed, datetime):
                raise ValueError(f"closed_dates[{i}]: expected a date, got {closed!r}")
        # Frozen, so normalise through object.__setattr__: equal hours compare equal.
        object.__setattr__(self, "week", MappingProxyType(week))
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))

    def __hash__(self) -> int:
        return hash((self.timezone, tuple(sorted(self.week.items())), self.closed_dates))

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> OpeningHours:
        """Every day 00:00-24:00: SLA time is plain elapsed time."""
        return cls(timezone, {day: ((MIDNIGHT, MIDNIGHT),) for day in range(7)})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- JSON ---------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Any) -> OpeningHours:
        """Parse `{"timezone", "week": {"mon": [["08:00", "18:00"]], ...}, "closed_dates"}`."""
        if not isinstance(data, Mapping):
            raise ValueError("hours: expected an object")
        unknown = sorted(set(data) - {"timezone", "week", "closed_dates"})
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown field")
        if "timezone" not in data:
            raise ValueError("timezone: required")
        raw_week = data.get("week", {})
        if not isinstance(raw_week, Mapping):
            raise ValueError("week: expected an object keyed by mon..sun")
        week: dict[int, tuple[Interval, ...]] = {}
        for name, intervals in raw_week.items():
            if name not in DAY_NAMES:
                raise ValueError(
                    f"week.{name}: unknown day (expected one of {', '.join(DAY_NAMES)})"
                )
            field = f"week.{name}"
            if not isinstance(intervals, list):
                raise ValueError(f"{field}: expected a list of [start, end] pairs")
            parsed: list[Interval] = []
            for i, pair in enumerate(intervals):
                where = f"{field}[{i}]"
                if not isinstance(pair, list | tuple) or len(pair) != 2:
                    raise ValueError(f"{where}: expected a [start, end] pair")
                parsed.append(
                    (_parse_time(pair[0], where, end=False), _parse_time(pair[1], where, end=True))
                )
            week[DAY_NAMES.index(name)] = tuple(parsed)
        raw_closed = data.get("closed_dates", [])
        if not isinstance(raw_closed, list):
            raise ValueError("closed_dates: expected a list of ISO dates")
        closed: set[date] = set()
        for i, value in enumerate(raw_closed):
            try:
                closed.add(date.fromisoformat(value))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"closed_dates[{i}]: {value!r} is not an ISO date") from exc
        return cls(data["timezone"], week, frozenset(closed))

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "week": {
                DAY_NAMES[day]: [[_fmt(s), _fmt(e, end=True)] for s, e in self.week[day]]
                for day in range(7)
            },
            "closed_dates": sorted(d.isoformat() for d in self.closed_dates),
        }

    # -- time arithmetic ----------------------------------------------------------------------

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of a local date as UTC moments (empty on a closed date)."""
        if day in self.closed_dates:
            return []
        zone = self.zone
        out = []
        for start, end in self.week[day.weekday()]:
            opens = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            end_day = day + timedelta(days=1) if end == MIDNIGHT else day
            closes = datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
            if closes > opens:  # an interval inside a DST gap can shrink to nothing
                out.append((opens, closes))
        return out

    def check_reopens(self) -> None:
        """ValueError unless, from any moment on, the dealership opens within MAX_CLOSED_DAYS.

        Hours that never open would make every SLA and follow-up impossible to compute (and every
        lead of the dealership fail). Only closed dates can stretch a closure past the six days
        a week allows, so the walk starts at each of them and stays short.
        """
        if not any(self.week.values()):
            raise ValueError("week: no opening time on any day, so no lead could ever be due")
        walked: set[date] = set()
        for closed in sorted(self.closed_dates):
            if closed in walked:
                continue
            first = closed
            while not self.intervals_on(first - timedelta(days=1)):
                first -= timedelta(days=1)
            day = first
            while not self.intervals_on(day):
                walked.add(day)
                day += timedelta(days=1)
                if (day - first).days > MAX_CLOSED_DAYS:
                    raise ValueError(
                        f"closed_dates: closed more than {MAX_CLOSED_DAYS} days in a row from "
                        f"{first.isoformat()}"
                    )

    def is_open(self, at: datetime) -> bool:
        moment = as_utc(at, "at")
        local_day = moment.astimezone(self.zone).date()
        return any(opens <= moment < closes for opens, closes in self.intervals_on(local_day))

    def add_working_time(self, start: datetime, delta: timedelta) -> datetime:
        """The UTC moment at which `delta` of opening time has elapsed after `start`.

        A start outside opening hours counts from the next opening (a lead arriving at night is
        due 15 minutes after the doors open); `delta` zero gives the next open moment.
        """
        if delta < timedelta(0):
            raise ValueError(f"delta: must not be negative, got {delta}")
        moment = as_utc(start, "start")
        remaining = delta
        day = moment.astimezone(self.zone).date()
        closed_days = 0
        while closed_days <= MAX_CLOSED_DAYS:
            intervals = self.intervals_on(day)
            closed_days = 0 if intervals else closed_days + 1
            for opens, closes in intervals:
                begin = max(opens, moment)
                if begin >= closes:
                    continue
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
            day += timedelta(days=1)
        raise ValueError(f"hours: no opening time within {MAX_CLOSED_DAYS} days of {moment}")

    def close_of_opening_day(self, start: datetime, n: int) -> datetime:
        """The last closing time (UTC) of the n-th opening day after the local day of `start`.

        "Within 3 business days": a lead that arrived on Friday is due when the doors close on
        Wednesday, for a dealership open Monday to Friday.
        """
        if n < 1:
            raise ValueError(f"n: must be at least 1, got {n}")
        day = as_utc(start, "start").astimezone(self.zone).date()
        closed_days = 0
        while closed_days <= MAX_CLOSED_DAYS:
            day += timedelta(days=1)
            intervals = self.intervals_on(day)
            if not intervals:
                closed_days += 1
                continue
            closed_days = 0
            n -= 1
            if n == 0:
                return intervals[-1][1]
        raise ValueError(f"hours: no opening time within {MAX_CLOSED_DAYS} days of {day}")

    def next_opening(self, at: datetime) -> datetime:
        """`at` itself when open, else the next moment the dealership opens (UTC)."""
        return self.add_working_time(at, timedelta(0))

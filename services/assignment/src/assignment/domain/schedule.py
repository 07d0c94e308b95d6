"""A consultant's weekly working hours in their dealership's time zone.

`week` maps a weekday (0 = Monday .. 6 = Sunday) to intervals of local wall time, start
inclusive, end exclusive; an end of "24:00" means midnight at the end of that day. A missing
weekday is a day off. JSON: `{"timezone": "Europe/Berlin", "week": {"mon": [["09:00", "18:00"]]}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Interval = tuple[time, time]


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse_clock(value: str, *, end: bool = False) -> time:
    """`"HH:MM"` as a time; `"24:00"` (only as an interval's end) is midnight."""
    if end and value == "24:00":
        return time(0)
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time HH:MM") from exc


def _seconds(at: time, *, end: bool = False) -> int:
    if end and at == time(0):
        return 86400
    return at.hour * 3600 + at.minute * 60


@dataclass(frozen=True)
class WeeklyHours:
    timezone: str
    week: tuple[tuple[Interval, ...], ...]  # seven days, Monday first

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WeeklyHours:
        zone_of(data["timezone"])
        days: list[tuple[Interval, ...]] = []
        week = data.get("week") or {}
        unknown = set(week) - set(DAY_NAMES)
        if unknown:
            raise ValueError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(DAY_NAMES)}")
        for name in DAY_NAMES:
            intervals = []
            for start_text, end_text in week.get(name, ()):
                start, end = parse_clock(start_text), parse_clock(end_text, end=True)
                if _seconds(start) >= _seconds(end, end=True):
                    raise ValueError(f"{name}: {start_text} is not before {end_text}")
                intervals.append((start, end))
            days.append(tuple(sorted(intervals)))
        return cls(data["timezone"], tuple(days))

    def to_json(self) -> dict[str, Any]:
        def fmt(at: time, end: bool = False) -> str:
            return "24:00" if end and at == time(0) else at.strftime("%H:%M")

        return {
            "timezone": self.timezone,
            "week": {
                DAY_NAMES[i]: [[fmt(s), fmt(e, True)] for s, e in day]
                for i, day in enumerate(self.week)
                if day
            },
        }

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(zone_of(self.timezone))
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(
            _seconds(s) <= second < _seconds(e, end=True) for s, e in self.week[local.weekday()]
        )

    def next_start(self, after: datetime) -> datetime | None:
        """The first shift start strictly after `after` (within the next eight days), in UTC."""
        zone = zone_of(self.timezone)
        local = after.astimezone(zone)
        for offset in range(9):
            day = local.date() + timedelta(days=offset)
            for start, _ in self.week[day.weekday()]:
                moment = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
                if moment > after:
                    return moment
        return None

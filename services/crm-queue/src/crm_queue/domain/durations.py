"""ISO 8601 durations ("PT15M", "P1D", "P1DT12H") for policy JSON: readable, and standard.

Only days, hours, minutes and seconds (and weeks alone, "P2W"): years and months have no fixed
length, so a policy cannot use them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W|(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?)$"
)


def parse_duration(value: Any, field: str) -> timedelta:
    """A duration string as a timedelta; ValueError naming `field` otherwise."""
    match = _DURATION.match(value) if isinstance(value, str) and value != "P" else None
    if match is None:
        raise ValueError(f"{field}: {value!r} is not an ISO 8601 duration such as 'PT15M' or 'P1D'")
    parts = match.groupdict()
    try:
        return timedelta(
            weeks=int(parts["weeks"] or 0),
            days=int(parts["days"] or 0),
            hours=int(parts["hours"] or 0),
            minutes=int(parts["minutes"] or 0),
            seconds=float(parts["seconds"] or 0),
        )
    except OverflowError:  # beyond any calendar (timedelta holds 999,999,999 days)
        raise ValueError(f"{field}: {value!r} is longer than any calendar") from None


def format_duration(value: timedelta) -> str:
    """The shortest ISO 8601 form parse_duration reads back to the same timedelta."""
    if value < timedelta(0):
        raise ValueError(f"negative duration {value} has no ISO 8601 form here")
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"P{value.days}D" if value.days else "P"
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or value.microseconds:
        clock += f"{seconds}.{value.microseconds:06d}S" if value.microseconds else f"{seconds}S"
    if clock:
        out += "T" + clock
    return "PT0S" if out == "P" else out

"""Speed to lead per source kind: an SLA is opening time, or a number of business days.

A lead from the website, a chat, a phone call, a marketplace or an OEM site is hot: contact it
within minutes of opening time (`timedelta`, "PT15M"). A bought list or the contacts of an event
are not waiting by the phone: `BusinessDays(n)` is due at the close of the n-th opening day
after the day the lead arrived (`{"business_days": 3}`), so a list of thousands does not make
thousands of 15-minute SLAs that all breach.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

from crm_queue.domain.durations import format_duration, parse_duration
from crm_queue.domain.hours import OpeningHours
from shared.contracts.common import SourceKind

SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)
MAX_BUSINESS_DAYS = 30


@dataclass(frozen=True)
class BusinessDays:
    days: int

    def __post_init__(self) -> None:
        if not isinstance(self.days, int) or isinstance(self.days, bool):
            raise ValueError(f"business_days: expected an integer, got {self.days!r}")
        if not 1 <= self.days <= MAX_BUSINESS_DAYS:
            raise ValueError(f"business_days: between 1 and {MAX_BUSINESS_DAYS}, got {self.days}")


Sla = timedelta | BusinessDays

# The kinds that are not hot leads; the others take the policy's `sla` (15 minutes).
DEFAULT_SLA_BY_SOURCE: Mapping[str, Sla] = {
    "event": BusinessDays(1),
    "list": BusinessDays(3),
}


def due_at(hours: OpeningHours, received_at: datetime, sla: Sla) -> datetime:
    if isinstance(sla, BusinessDays):
        return hours.close_of_opening_day(received_at, sla.days)
    return hours.add_working_time(received_at, sla)


def check(sla: Any, field: str) -> Sla:
    if isinstance(sla, BusinessDays):
        return sla
    if not isinstance(sla, timedelta) or sla <= timedelta(0):
        raise ValueError(f"{field}: must be a positive duration or business days, got {sla!r}")
    return sla


def from_json(value: Any, field: str) -> Sla:
    """ "PT15M" (opening time) or {"business_days": n}."""
    if isinstance(value, Mapping):
        if set(value) != {"business_days"}:
            raise ValueError(
                f'{field}: expected {{"business_days": n}} or a duration such as "PT15M"'
            )
        try:
            return BusinessDays(value["business_days"])
        except ValueError as exc:
            raise ValueError(f"{field}.{exc}") from None
    return check(parse_duration(value, field), field)


def to_json(sla: Sla) -> str | dict[str, int]:
    if isinstance(sla, BusinessDays):
        return {"business_days": sla.days}
    return format_duration(sla)


def by_source_from_json(value: Any, field: str) -> dict[str, Sla]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: expected an object keyed by source kind")
    out: dict[str, Sla] = {}
    for kind, sla in value.items():
        if kind not in SOURCE_KINDS:
            raise ValueError(
                f"{field}.{kind}: unknown source kind (one of {', '.join(SOURCE_KINDS)})"
            )
        out[kind] = from_json(sla, f"{field}.{kind}")
    return out

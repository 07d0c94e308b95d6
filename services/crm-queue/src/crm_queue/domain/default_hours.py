"""A dealer group's default opening hours: every dealership starts from them, in its own zone.

A dealership crm-queue knows the time zone of (intake names it on `lead.ingested`) and that has
no policy of its own gets `Policy(hours=default_hours.in_zone(its zone))`: a lead arriving at
night is due after the doors open, from the dealership's first lead on. A policy a manager set
for the dealership wins. Until the zone is known (events from an intake that did not send it)
the old default stands: UTC and always open, as guessing hours in the wrong zone would be worse.

JSON shape: `{"week": {"mon": [["09:00", "19:00"]], ...}, "closed_dates": ["2026-12-25"]}`,
as `OpeningHours` without the zone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from crm_queue.domain.hours import OpeningHours

_WEEKDAY = [["09:00", "19:00"]]
DEFAULT_WEEK: dict[str, list[list[str]]] = {
    "mon": _WEEKDAY,
    "tue": _WEEKDAY,
    "wed": _WEEKDAY,
    "thu": _WEEKDAY,
    "fri": _WEEKDAY,
    "sat": [["09:00", "17:00"]],
}


@dataclass(frozen=True)
class DefaultHours:
    hours: OpeningHours  # its zone is a placeholder: each dealership's own replaces it

    def in_zone(self, timezone: str) -> OpeningHours:
        return dataclasses.replace(self.hours, timezone=timezone)

    @classmethod
    def standard(cls) -> DefaultHours:
        """Monday to Friday 09:00-19:00, Saturday 09:00-17:00."""
        return cls.from_json({"week": DEFAULT_WEEK})

    @classmethod
    def from_json(cls, data: Any) -> DefaultHours:
        if not isinstance(data, dict):
            raise ValueError("hours: expected an object")
        if "timezone" in data:
            raise ValueError("timezone: each dealership's own is used; leave it out")
        hours = OpeningHours.from_json({**data, "timezone": "UTC"})
        hours.check_reopens()
        return cls(hours)

    def to_json(self) -> dict[str, Any]:
        data = self.hours.to_json()
        del data["timezone"]
        return data

"""A person's new enquiry on their open prospect, as assignment records it.

intake merges an enquiry of a person whose lead is an open prospect into that lead and
publishes it as `lead.duplicate` with stage `prospect` (the contract in
`shared.contracts.intake`). Here it becomes an activity of kind `enquiry` on the prospect:
keyed by intake's enquiry id (a redelivery, or intake publishing the enquiry again, records
nothing twice), no consultant, the enquiry's text as its note and the rest in `details`. Every
text is capped and control characters are dropped before the database sees them (PostgreSQL
refuses NUL, in JSONB too), whatever the producer checked.
"""

from __future__ import annotations

import re
from typing import Any

from shared.contracts import LeadDuplicateV1

MAX_NOTE = 10_000  # intake's cap on comments
MAX_TEXT = 1_000  # any other text kept in `details`
MAX_ITEMS = 20  # trade-ins, other phones
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline are fine in a note
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def note_text(value: str | None) -> str | None:
    if value is None:
        return None
    return _CONTROL.sub("", value)[:MAX_NOTE].strip() or None


def clean(value: Any) -> Any:
    """JSON-able `value` with every string on one line and capped, every list capped."""
    if isinstance(value, str):
        return _LINE_CONTROL.sub("", value)[:MAX_TEXT]
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value[:MAX_ITEMS]]
    return value


def activity_values(enquiry: LeadDuplicateV1, *, erased: bool) -> dict[str, Any]:
    """The activity row (without lead and tenant); `erased`: the person was erased, so only
    where the enquiry came from and when are kept."""
    source = enquiry.source.model_dump(
        mode="json", include={"source_id", "kind", "name", "campaign", "channel"}
    )
    details: dict[str, Any] = {"source": source}
    if not erased:
        details |= {
            "enquiry_dealership_id": enquiry.enquiry_dealership_id,
            "matched_on": list(enquiry.matched_on),
            "person": enquiry.person.model_dump(mode="json", exclude_none=True)
            if enquiry.person
            else None,
            "vehicle": enquiry.vehicle.model_dump(mode="json", exclude_none=True)
            if enquiry.vehicle
            else None,
            "trade_ins": [v.model_dump(mode="json", exclude_none=True) for v in enquiry.trade_ins],
        }
    return {
        "activity_id": enquiry.enquiry_id,
        "consultant_id": None,
        "note": None if erased else note_text(enquiry.comments),
        "at": enquiry.received_at,
        "next_follow_up_at": None,
        "details": clean(details),
    }

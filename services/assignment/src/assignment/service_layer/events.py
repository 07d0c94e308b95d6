"""The prospect's domain events mapped to the public contract (shared.contracts.assignment)."""

from __future__ import annotations

from typing import Any, Final, Literal

from assignment.domain.prospect import Prospect
from shared.contracts import Envelope, new_envelope, payload_class

PRODUCER: Final[Literal["assignment"]] = "assignment"
VERSION = 1


def lost_facts(prospect: Prospect) -> dict[str, Any]:
    """What `prospect.lost` carries for recovery: who, what they asked about, their language.
    A prospect was qualified, so someone reached the person."""
    return {
        "person": prospect.person or None,
        "enquiries": prospect.enquiries,
        "language": prospect.language,
        "reached": True,
    }


def collect(prospect: Prospect, *, causation: Envelope[Any] | None = None) -> list[Envelope[Any]]:
    """The prospect's pending events as envelopes (handed over once)."""
    out = []
    for event in prospect.pull_events():
        data = event.payload()
        if event.event_type == "prospect.lost":
            data |= lost_facts(prospect)
        payload = payload_class(event.event_type, VERSION).model_validate(data)
        out.append(
            new_envelope(
                payload,
                tenant_id=event.tenant_id,
                producer=PRODUCER,
                dealership_id=event.dealership_id,
                lead_id=event.lead_id,
                caused_by=causation,
            )
        )
    return out

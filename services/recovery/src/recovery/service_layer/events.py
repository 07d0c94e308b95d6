"""A run's domain events mapped to the public contract (shared.contracts.recovery)."""

from __future__ import annotations

from typing import Any, Final, Literal

from recovery.domain.events import DomainEvent
from shared.contracts import Envelope, new_envelope, payload_class

PRODUCER: Final[Literal["recovery"]] = "recovery"
VERSION = 1


def to_envelope(event: DomainEvent, *, causation: Envelope[Any] | None = None) -> Envelope[Any]:
    payload = payload_class(event.event_type, VERSION).model_validate(event.payload())
    return new_envelope(
        payload,
        tenant_id=event.tenant_id,
        producer=PRODUCER,
        dealership_id=event.dealership_id,
        lead_id=event.lead_id,
        caused_by=causation,
    )

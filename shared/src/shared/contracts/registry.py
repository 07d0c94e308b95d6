"""Every event type and version on the wire, listed by hand (no reflection: a grep finds them).

`parse_envelope` is the one way consumers read a message body into a typed envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import TypeAdapter

from shared.contracts.assignment import (
    ProspectAssignedV1,
    ProspectEscalatedV1,
    ProspectLostV1,
    ProspectReassignedV1,
    ProspectWonV1,
)
from shared.contracts.base import EventPayload, WireModel, routing_key
from shared.contracts.crm_queue import (
    LeadContactAttemptedV1,
    LeadLostV1,
    LeadQualifiedV1,
    LeadSlaBreachedV1,
)
from shared.contracts.envelope import Envelope, envelope_type
from shared.contracts.intake import (
    CallReceivedV1,
    LeadDuplicateV1,
    LeadIngestedV1,
    LeadRejectedV1,
    PersonErasedV1,
)
from shared.contracts.recovery import (
    LeadBoughtElsewhereV1,
    LeadDeadV1,
    LeadReactivatedV1,
    RecoveryAttemptedV1,
    RecoveryEndedV1,
    RecoveryScheduledV1,
)

REGISTRY: Mapping[tuple[str, int], type[EventPayload]] = MappingProxyType(
    {
        # intake
        ("lead.rejected", 1): LeadRejectedV1,
        ("lead.duplicate", 1): LeadDuplicateV1,
        ("lead.ingested", 1): LeadIngestedV1,
        ("person.erased", 1): PersonErasedV1,
        ("call.received", 1): CallReceivedV1,
        # crm-queue
        ("lead.contact_attempted", 1): LeadContactAttemptedV1,
        ("lead.sla_breached", 1): LeadSlaBreachedV1,
        ("lead.qualified", 1): LeadQualifiedV1,
        ("lead.lost", 1): LeadLostV1,
        # assignment
        ("prospect.assigned", 1): ProspectAssignedV1,
        ("prospect.reassigned", 1): ProspectReassignedV1,
        ("prospect.escalated", 1): ProspectEscalatedV1,
        ("prospect.won", 1): ProspectWonV1,
        ("prospect.lost", 1): ProspectLostV1,
        # recovery
        ("recovery.scheduled", 1): RecoveryScheduledV1,
        ("recovery.attempted", 1): RecoveryAttemptedV1,
        ("lead.reactivated", 1): LeadReactivatedV1,
        ("lead.bought_elsewhere", 1): LeadBoughtElsewhereV1,
        ("lead.dead", 1): LeadDeadV1,
        ("recovery.ended", 1): RecoveryEndedV1,
    }
)

ALL_ROUTING_KEYS: tuple[str, ...] = tuple(routing_key(t, v) for t, v in REGISTRY)


class UnknownEvent(LookupError):
    """No payload class is registered for this event type and version."""

    def __init__(self, event_type: str, event_version: int) -> None:
        super().__init__(f"unknown event {routing_key(event_type, event_version)}")
        self.event_type = event_type
        self.event_version = event_version


# JSON is parsed once; a body that is not a JSON object is a ValidationError like any other.
_BODY: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


class _Header(WireModel):
    """The envelope without its payload: enough to pick the payload class."""

    event_type: str
    event_version: int


def payload_class(event_type: str, event_version: int) -> type[EventPayload]:
    try:
        return REGISTRY[(event_type, event_version)]
    except KeyError:
        raise UnknownEvent(event_type, event_version) from None


def parse_envelope(body: bytes | str) -> Envelope[Any]:
    """Read a message body into an envelope with its typed payload.

    Raises UnknownEvent for an unregistered type/version (a consumer bound to `lead.#` may see
    types newer than itself) and pydantic's ValidationError for a malformed envelope or payload.
    """
    data = _BODY.validate_json(body)
    header = _Header.model_validate(data)
    cls = payload_class(header.event_type, header.event_version)
    return envelope_type(cls).model_validate(data)

"""The envelope around every event: identity, time, tenancy and causality, then the payload.

Consumers deduplicate by `event_id`, route by `routing_key`, and follow a chain of events by
`correlation_id` (the first event's id) and `causation_id` (the event that caused this one).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Self, TypeVar
from uuid import UUID, uuid4

import pydantic_core
from pydantic import Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shared.contracts.base import (
    EventPayload,
    LeadEventPayload,
    Producer,
    UtcDatetime,
    WireModel,
    routing_key,
)

P = TypeVar("P", bound=EventPayload)


class Envelope(WireModel, Generic[P]):
    """One event on `forecourt.events`: metadata every consumer reads alike, then the payload."""

    event_id: UUID
    event_type: str = Field(pattern=r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
    event_version: int = Field(ge=1)
    occurred_at: UtcDatetime
    producer: Producer
    tenant_id: str = Field(min_length=1)
    dealership_id: str | None = None
    lead_id: UUID | None = None
    correlation_id: str = Field(min_length=1)
    causation_id: str | None = None
    payload: P

    @model_validator(mode="after")
    def _payload_matches(self) -> Self:
        payload: object = self.payload
        if not isinstance(payload, EventPayload):
            return self  # Envelope[Any] read as raw JSON (tooling, dead-letter inspection)
        if type(payload) is EventPayload:
            raise ValueError(
                "parametrise the envelope (Envelope[LeadIngestedV1]) or use parse_envelope"
            )
        if (payload.event_type, payload.event_version) != (self.event_type, self.event_version):
            raise ValueError(
                f"payload {type(payload).__name__} is {payload.routing_key()}, "
                f"envelope says {self.routing_key}"
            )
        if isinstance(payload, LeadEventPayload) and self.lead_id is None:
            raise ValueError(f"{self.event_type} is about a lead: lead_id is required")
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # A parametrised envelope's schema names its one event type and version as constants.
        schema = handler.resolve_ref_schema(handler(core_schema))
        args = cls.__pydantic_generic_metadata__["args"]
        if args and isinstance(args[0], type) and issubclass(args[0], EventPayload):
            schema["properties"]["event_type"]["const"] = args[0].event_type
            schema["properties"]["event_version"]["const"] = args[0].event_version
        return schema

    @property
    def routing_key(self) -> str:
        return routing_key(self.event_type, self.event_version)

    def to_json_bytes(self) -> bytes:
        # serialize_as_any: an unparametrised Envelope would otherwise write only the fields
        # of EventPayload, silently dropping the payload's own.
        return self.model_dump_json(serialize_as_any=True).encode()


@functools.cache
def envelope_type(payload_class: type[P]) -> type[Envelope[P]]:
    """`Envelope[payload_class]` for a class known only at run time. Pydantic caches the class
    too, but finding it there was ~3% of bulk intake's CPU (an event per lead)."""
    return Envelope[payload_class]  # type: ignore[valid-type]


def new_envelope(
    payload: P,
    *,
    tenant_id: str,
    producer: Producer | None = None,
    dealership_id: str | None = None,
    lead_id: UUID | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
    event_id: UUID | None = None,
    caused_by: Envelope[Any] | None = None,
) -> Envelope[P]:
    """Wrap a payload for publishing; type, version and producer come from the payload class.

    `caused_by` (the event being handled) carries its correlation on and becomes the causation;
    explicit `correlation_id`/`causation_id` win over it. A new chain is correlated by the new
    event's own id.
    """
    if producer is not None and producer != payload.producer:
        raise ValueError(f"{payload.event_type} is produced by {payload.producer}, not {producer}")
    event_id = event_id or uuid4()
    if caused_by is not None:
        correlation_id = correlation_id or caused_by.correlation_id
        causation_id = causation_id or str(caused_by.event_id)
    return envelope_type(type(payload))(
        event_id=event_id,
        event_type=payload.event_type,
        event_version=payload.event_version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=payload.producer,
        tenant_id=tenant_id,
        dealership_id=dealership_id,
        lead_id=lead_id,
        correlation_id=correlation_id or str(event_id),
        causation_id=causation_id,
        payload=payload,
    )


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event serialised once, at creation, from plain values: what the outbox needs of an
    envelope (`shared.outbox.OutgoingEvent`), without a model built and validated per event.

    For a producer's hot path (intake's leads): building the payload and envelope models was a
    fifth of a bulk row's CPU. The JSON is the same as the models' (pydantic-core writes both);
    the producer's contract tests read it back through the models and compare.
    """

    event_id: UUID
    event_type: str
    event_version: int
    tenant_id: str
    producer: str
    correlation_id: str
    body: bytes

    def to_json_bytes(self) -> bytes:
        return self.body


def utc(value: datetime) -> datetime:
    """What `UtcDatetime` makes of an aware datetime, for payloads built as plain dicts."""
    return value.astimezone(UTC)


def prepare_event(
    payload_class: type[EventPayload],
    payload: dict[str, Any],
    *,
    tenant_id: str,
    dealership_id: str | None = None,
    lead_id: UUID | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> PreparedEvent:
    """`new_envelope()` for a payload written as a plain dict of the class's fields (every one,
    in its order; values as the model holds them: UUID, aware UTC datetimes, Decimal)."""
    event_id = uuid4()
    correlation_id = correlation_id or str(event_id)
    envelope = {
        "event_id": event_id,
        "event_type": payload_class.event_type,
        "event_version": payload_class.event_version,
        "occurred_at": datetime.now(UTC),
        "producer": payload_class.producer,
        "tenant_id": tenant_id,
        "dealership_id": dealership_id,
        "lead_id": lead_id,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "payload": payload,
    }
    return PreparedEvent(
        event_id=event_id,
        event_type=payload_class.event_type,
        event_version=payload_class.event_version,
        tenant_id=tenant_id,
        producer=payload_class.producer,
        correlation_id=correlation_id,
        body=pydantic_core.to_json(envelope),
    )

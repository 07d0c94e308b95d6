"""What every wire model shares: tolerant, immutable, UTC-only, and self-describing payloads.

A payload class names its own event type, version and producer as class variables, so the
envelope, the registry and the routing key are all derived from one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

Producer = Literal["intake", "crm-queue", "assignment", "recovery", "metrics"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Naive datetimes are refused (their zone is a guess); aware ones are normalised to UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def routing_key(event_type: str, event_version: int) -> str:
    """`lead.ingested` version 1 is published with routing key `lead.ingested.v1`."""
    return f"{event_type}.v{event_version}"


class WireModel(BaseModel):
    """Base of every model on the wire: immutable, and unknown fields ignored (tolerant reader)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class EventPayload(WireModel):
    """The payload of one event type and version."""

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    producer: ClassVar[Producer]

    @classmethod
    def routing_key(cls) -> str:
        return routing_key(cls.event_type, cls.event_version)


class LeadEventPayload(EventPayload):
    """A payload about one lead: its envelope must name the lead.

    Events can arrive out of order (several outbox relays, redeliveries), so each carries the
    producer's per-lead counter: a consumer drops an update older than the last one it applied.
    """

    sequence: int = Field(
        ge=1,
        description="Per lead and per producer, increasing from 1: lets consumers drop stale "
        "out-of-order updates.",
    )

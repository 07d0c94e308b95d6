"""Events a recovery run records for the unit of work to publish with its changes.

`payload()` gives exactly the fields of the public contract (`shared.contracts.recovery`), so
the service layer validates one into the other without a field-by-field copy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

_ENVELOPE_FIELDS = frozenset({"lead_id", "tenant_id", "dealership_id"})


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    event_type: ClassVar[str]

    lead_id: UUID
    tenant_id: str
    dealership_id: str | None
    sequence: int
    recovery_id: UUID

    def payload(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in _ENVELOPE_FIELDS
        }


@dataclass(frozen=True, kw_only=True)
class Scheduled(DomainEvent):
    event_type: ClassVar[str] = "recovery.scheduled"

    step: int
    due_at: datetime
    channel: str
    origin: str
    reason_code: str


@dataclass(frozen=True, kw_only=True)
class Attempted(DomainEvent):
    event_type: ClassVar[str] = "recovery.attempted"

    step: int
    channel: str
    outcome: str
    agent_id: str | None
    note: str | None
    attempted_at: datetime


@dataclass(frozen=True, kw_only=True)
class Reactivated(DomainEvent):
    event_type: ClassVar[str] = "lead.reactivated"

    origin: str
    previous_reason_code: str
    reactivated_at: datetime
    hot: bool
    note: str | None
    person: dict[str, Any] | None
    enquiries: list[dict[str, Any]]
    vehicle: dict[str, Any] | None
    consent: dict[str, Any] | None
    language: str | None
    consultant_id: str | None
    agent_id: str | None


@dataclass(frozen=True, kw_only=True)
class BoughtElsewhere(DomainEvent):
    event_type: ClassVar[str] = "lead.bought_elsewhere"

    same_brand: bool
    brand: str | None
    recorded_at: datetime
    reason_code: str
    action: str
    dealer: str | None
    origin: str


@dataclass(frozen=True, kw_only=True)
class Dead(DomainEvent):
    event_type: ClassVar[str] = "lead.dead"

    reason: str
    dead_at: datetime


@dataclass(frozen=True, kw_only=True)
class Ended(DomainEvent):
    event_type: ClassVar[str] = "recovery.ended"

    origin: str
    reason_code: str
    outcome: str
    steps: int
    ended_at: datetime
    returned_lead_id: UUID | None

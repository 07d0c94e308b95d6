"""Events a task records for the unit of work to publish (through the outbox) with its changes.

Each carries the lead's identity for the envelope and, in `payload()`, exactly the fields of its
public contract in `shared.contracts.crm_queue`, so the service layer maps one to the other with
`Model(**event.payload())` and no field-by-field copy to drift.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from shared.contracts.common import Channel, ContactOutcome
from shared.contracts.lost_reasons import LostReasonCategory, LostReasonCode, QualifyingOutcome

_ENVELOPE_FIELDS = frozenset({"lead_id", "tenant_id", "dealership_id"})


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    event_type: ClassVar[str]

    lead_id: UUID
    tenant_id: str
    dealership_id: str
    sequence: int  # the task's per-lead counter after this event (1, 2, 3, ...)

    def payload(self) -> dict[str, Any]:
        """The public payload's fields (sequence included, envelope fields left out)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in _ENVELOPE_FIELDS
        }


@dataclass(frozen=True, kw_only=True)
class AttemptRecorded(DomainEvent):
    event_type: ClassVar[str] = "lead.contact_attempted"

    attempt_id: UUID
    attempt_number: int
    channel: Channel
    outcome: ContactOutcome
    agent_id: str
    note: str | None
    attempted_at: datetime
    next_attempt_due_at: datetime | None
    automatic: bool = False


@dataclass(frozen=True, kw_only=True)
class SlaBreached(DomainEvent):
    event_type: ClassVar[str] = "lead.sla_breached"

    task_id: UUID
    due_at: datetime
    breached_at: datetime
    escalated_to_role: str = "manager"


@dataclass(frozen=True, kw_only=True)
class Qualified(DomainEvent):
    event_type: ClassVar[str] = "lead.qualified"

    outcome: QualifyingOutcome
    agent_id: str
    details: str | None
    appointment_at: datetime | None
    attempts: int
    qualified_at: datetime
    hot: bool = False


@dataclass(frozen=True, kw_only=True)
class Lost(DomainEvent):
    event_type: ClassVar[str] = "lead.lost"

    reason_code: LostReasonCode
    category: LostReasonCategory
    note: str | None
    agent_id: str | None
    attempts: int
    lost_at: datetime
    do_not_contact: bool
    automatic: bool = False
    min_attempts: int | None = None

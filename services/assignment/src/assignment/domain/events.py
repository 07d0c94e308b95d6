"""Events a prospect records for the unit of work to publish with its changes.

`payload()` gives exactly the fields of the public contract (`shared.contracts.assignment`),
so the service layer validates one into the other without a field-by-field copy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

_ENVELOPE_FIELDS = frozenset({"lead_id", "tenant_id", "dealership_id"})


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    event_type: ClassVar[str]

    lead_id: UUID
    tenant_id: str
    dealership_id: str
    sequence: int

    def payload(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in _ENVELOPE_FIELDS
        }


@dataclass(frozen=True, kw_only=True)
class Assigned(DomainEvent):
    event_type: ClassVar[str] = "prospect.assigned"

    consultant_id: str
    hot: bool
    reason: str
    respond_by: datetime | None
    assigned_at: datetime
    rule: str | None
    rule_version: int | None
    method: str | None


@dataclass(frozen=True, kw_only=True)
class Reassigned(DomainEvent):
    event_type: ClassVar[str] = "prospect.reassigned"

    from_consultant_id: str
    to_consultant_id: str
    reason: str
    reassigned_at: datetime
    hot: bool
    respond_by: datetime | None


@dataclass(frozen=True, kw_only=True)
class Escalated(DomainEvent):
    event_type: ClassVar[str] = "prospect.escalated"

    consultant_id: str
    hot: bool
    reason: str
    sla_due_at: datetime | None
    escalated_at: datetime


@dataclass(frozen=True, kw_only=True)
class Won(DomainEvent):
    event_type: ClassVar[str] = "prospect.won"

    consultant_id: str
    won_at: datetime
    vehicle: dict[str, Any] | None
    amount: Decimal | None
    currency: str | None
    reactivated: bool


@dataclass(frozen=True, kw_only=True)
class Lost(DomainEvent):
    event_type: ClassVar[str] = "prospect.lost"

    consultant_id: str
    reason_code: str
    category: str
    note: str | None
    lost_at: datetime
    competitor_brand: str | None
    competitor_dealer: str | None
    postponed_until: date | None
    do_not_contact: bool

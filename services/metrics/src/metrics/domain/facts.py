"""What each funnel event contributes to the facts the KPIs are computed from. Pure: no I/O.

A lead's fact row is built from groups of columns. Each group is taken from the earliest (or
the latest) event of its kind, compared by the events' own times (ties broken by event id), so
the row comes out the same whatever order the events arrive in, and however often.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from shared.contracts import (
    Envelope,
    LeadBoughtElsewhereV1,
    LeadContactAttemptedV1,
    LeadDeadV1,
    LeadDuplicateV1,
    LeadIngestedV1,
    LeadLostV1,
    LeadQualifiedV1,
    LeadReactivatedV1,
    LeadRejectedV1,
    LeadSlaBreachedV1,
    PersonErasedV1,
    ProspectAssignedV1,
    ProspectLostV1,
    ProspectReassignedV1,
    ProspectWonV1,
    SourceRefV1,
)


@dataclass(frozen=True)
class Group:
    """Columns of a lead's row that come together from one event: `time` decides which event
    wins (`min`: the earliest, `max`: the latest), `key` holds that event's id for ties."""

    time: str
    key: str
    pick: Literal["min", "max"]
    columns: tuple[str, ...] = ()
    # The lead's own dealership comes from lead.ingested; other events only fill it when unknown.
    sets_dealership: bool = False


GROUPS: Mapping[str, Group] = {
    "ingest": Group(
        "received_at",
        "ingest_key",
        "min",
        (
            "source_id",
            "source_kind",
            "source_name",
            "campaign",
            "cost_per_lead",
            "currency",
            "previous_lead_id",
        ),
        sets_dealership=True,
    ),
    "first_attempt": Group(
        "first_attempt_at",
        "first_attempt_key",
        "min",
        ("first_attempt_agent", "first_attempt_channel"),
    ),
    # Automatic replies are no first contact: kept apart from people's attempts.
    "first_auto_reply": Group("first_auto_reply_at", "first_auto_reply_key", "min"),
    "sla": Group("sla_breached_at", "sla_key", "min", ("sla_due_at",)),
    "qualified": Group(
        "qualified_at", "qualified_key", "min", ("qualified_agent", "qualified_outcome")
    ),
    "lead_lost": Group(
        "lead_lost_at",
        "lead_lost_key",
        "min",
        ("lead_lost_code", "lead_lost_category", "lead_lost_agent"),
    ),
    "first_assigned": Group("first_assigned_at", "first_assigned_key", "min"),
    "consultant": Group("consultant_at", "consultant_key", "max", ("consultant_id",)),
    "won": Group(
        "won_at",
        "won_key",
        "min",
        ("won_consultant", "won_amount", "won_currency", "won_reactivated"),
    ),
    "reactivated": Group("reactivated_at", "reactivated_key", "min"),
    "bought_elsewhere": Group(
        "bought_elsewhere_at", "bought_elsewhere_key", "min", ("bought_elsewhere_same_brand",)
    ),
    "dead": Group("dead_at", "dead_key", "min"),
}


@dataclass(frozen=True)
class LeadUpdate:
    group: str
    at: datetime
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Facts:
    """Everything one event changes; the adapters turn it into upserts and inserts."""

    tenant_id: str
    event_id: UUID
    lead_id: UUID | None
    dealership_id: str | None
    lead: list[LeadUpdate] = field(default_factory=list)
    attempts: int | None = None  # the highest attempt number seen
    loss: dict[str, Any] | None = None
    intake: dict[str, Any] | None = None
    recovery: dict[str, Any] | None = None
    erased_leads: tuple[UUID, ...] = ()
    erased_at: datetime | None = None

    @property
    def key(self) -> str:
        return str(self.event_id)


def _source(source: SourceRefV1) -> dict[str, Any]:
    return {
        "source_id": source.source_id,
        "source_kind": source.kind,
        "source_name": source.name,
        "campaign": source.campaign,
        "cost_per_lead": source.cost_per_lead,
        "currency": source.currency,
    }


def facts_of(envelope: Envelope[Any]) -> Facts:
    """The facts of one event."""
    p = envelope.payload
    f = Facts(envelope.tenant_id, envelope.event_id, envelope.lead_id, envelope.dealership_id)
    if isinstance(p, LeadIngestedV1):
        previous = p.previous_lead_id
        f.lead.append(
            LeadUpdate("ingest", p.received_at, _source(p.source) | {"previous_lead_id": previous})
        )
    elif isinstance(p, LeadContactAttemptedV1):
        if p.automatic:
            f.lead.append(LeadUpdate("first_auto_reply", p.attempted_at))
        else:
            f.lead.append(
                LeadUpdate(
                    "first_attempt",
                    p.attempted_at,
                    {"first_attempt_agent": p.agent_id, "first_attempt_channel": p.channel},
                )
            )
        f.attempts = p.attempt_number
    elif isinstance(p, LeadSlaBreachedV1):
        f.lead.append(LeadUpdate("sla", p.breached_at, {"sla_due_at": p.due_at}))
    elif isinstance(p, LeadQualifiedV1):
        f.lead.append(
            LeadUpdate(
                "qualified",
                p.qualified_at,
                {"qualified_agent": p.agent_id, "qualified_outcome": str(p.outcome)},
            )
        )
    elif isinstance(p, LeadLostV1):
        code, category = str(p.reason_code), str(p.category)
        f.lead.append(
            LeadUpdate(
                "lead_lost",
                p.lost_at,
                {
                    "lead_lost_code": code,
                    "lead_lost_category": category,
                    "lead_lost_agent": p.agent_id,
                },
            )
        )
        f.loss = {
            "origin": "lead",
            "reason_code": code,
            "category": category,
            "attempts": p.attempts,
            "agent_id": p.agent_id,
            "consultant_id": None,
            "automatic": p.automatic,
            "min_attempts": p.min_attempts,
            "lost_at": p.lost_at,
        }
    elif isinstance(p, ProspectAssignedV1):
        f.lead.append(LeadUpdate("first_assigned", p.assigned_at))
        f.lead.append(LeadUpdate("consultant", p.assigned_at, {"consultant_id": p.consultant_id}))
    elif isinstance(p, ProspectReassignedV1):
        f.lead.append(
            LeadUpdate("consultant", p.reassigned_at, {"consultant_id": p.to_consultant_id})
        )
    elif isinstance(p, ProspectWonV1):
        f.lead.append(
            LeadUpdate(
                "won",
                p.won_at,
                {
                    "won_consultant": p.consultant_id,
                    "won_amount": p.amount,
                    "won_currency": p.currency,
                    "won_reactivated": p.reactivated,
                },
            )
        )
    elif isinstance(p, ProspectLostV1):
        f.loss = {
            "origin": "prospect",
            "reason_code": str(p.reason_code),
            "category": str(p.category),
            "attempts": None,
            "agent_id": None,
            "consultant_id": p.consultant_id,
            "automatic": False,
            "min_attempts": None,
            "lost_at": p.lost_at,
        }
    elif isinstance(p, LeadReactivatedV1):
        f.lead.append(LeadUpdate("reactivated", p.reactivated_at))
        f.recovery = {
            "kind": "reactivated",
            "origin": p.origin,
            "reason_code": str(p.previous_reason_code),
            "same_brand": None,
            "at": p.reactivated_at,
        }
    elif isinstance(p, LeadBoughtElsewhereV1):
        f.lead.append(
            LeadUpdate(
                "bought_elsewhere", p.recorded_at, {"bought_elsewhere_same_brand": p.same_brand}
            )
        )
        f.recovery = {
            "kind": "bought_elsewhere",
            "origin": None,
            "reason_code": None,
            "same_brand": p.same_brand,
            "at": p.recorded_at,
        }
    elif isinstance(p, LeadDeadV1):
        f.lead.append(LeadUpdate("dead", p.dead_at))
        f.recovery = {
            "kind": "dead",
            "origin": None,
            "reason_code": None,
            "same_brand": None,
            "at": p.dead_at,
        }
    elif isinstance(p, LeadDuplicateV1):
        f.intake = _source(p.source) | {
            "kind": "duplicate",
            "reason_code": "pollution.duplicate",
            "matched_on": list(p.matched_on),
            "errors": None,
            "raw_payload_id": None,
            "enquiry_id": p.enquiry_id,
            "received_at": p.received_at,
        }
    elif isinstance(p, LeadRejectedV1):
        f.intake = _source(p.source) | {
            "kind": "rejected",
            "reason_code": str(p.reason_code),
            "matched_on": None,
            "errors": [e.model_dump() for e in p.errors[:20]],
            "raw_payload_id": p.raw_payload_id,
            "enquiry_id": None,
            "received_at": p.received_at,
        }
    elif isinstance(p, PersonErasedV1):
        f.erased_leads = tuple(sorted(set(p.lead_ids)))
        f.erased_at = p.erased_at
    # recovery.scheduled / recovery.attempted: kept in the event log; no KPI reads them yet.
    return f

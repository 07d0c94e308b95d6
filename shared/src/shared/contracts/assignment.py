"""Events assignment publishes: which consultant owns a prospect, and how the prospect ended."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field

from shared.contracts.base import LeadEventPayload, UtcDatetime
from shared.contracts.common import Channel, ConsentV1, PersonV1, VehicleV1
from shared.contracts.crm_queue import EnquiryV1
from shared.contracts.reason import CodedLoss


class ProspectAssignedV1(LeadEventPayload):
    """A consultant was given the prospect: hot or not, and why this one."""

    event_type = "prospect.assigned"
    event_version = 1
    producer = "assignment"

    consultant_id: str
    hot: bool = False
    reason: str = Field(
        description="Why this consultant: fairness, availability, hot_reactivation, manager, ...",
        examples=["fairness", "availability", "hot_reactivation", "manager"],
    )
    respond_by: UtcDatetime | None = Field(
        default=None, description="When the consultant must have acted (24 h for a hot one)"
    )
    assigned_at: UtcDatetime
    rule: str | None = Field(
        default=None, description="The routing rule that chose the pool (null: none applied)"
    )
    rule_version: int | None = Field(default=None, description="Version of the dealership's rules")
    method: str | None = Field(
        default=None,
        description="How the consultant was picked: round_robin, least_loaded, close_rate, "
        "up_for_grabs, sticky, manager (open set)",
    )


class ProspectReassignedV1(LeadEventPayload):
    """The prospect moved to another consultant; it has exactly one at any time."""

    event_type = "prospect.reassigned"
    event_version = 1
    producer = "assignment"

    from_consultant_id: str
    to_consultant_id: str
    reason: str = Field(
        description="Why it moved: not_acted_48h, manager, consultant_absent, ...",
        examples=["not_acted_48h", "manager", "consultant_absent"],
    )
    reassigned_at: UtcDatetime
    hot: bool = False
    respond_by: UtcDatetime | None = Field(
        default=None, description="When the new consultant must have acted"
    )


class ProspectEscalatedV1(LeadEventPayload):
    """The consultant did not act in time: the managers are alerted (once per assignment)."""

    event_type = "prospect.escalated"
    event_version = 1
    producer = "assignment"

    consultant_id: str = Field(description="Who owns the prospect and did not act")
    hot: bool = False
    reason: str = Field(
        default="sla_missed",
        description="Why: sla_missed (the SLA passed with no action), no_eligible_consultant "
        "(untouched, and nobody else could take it over) (open set)",
        examples=["sla_missed", "no_eligible_consultant"],
    )
    sla_due_at: UtcDatetime | None = Field(
        default=None, description="When the consultant should have acted (the assignment's SLA)"
    )
    escalated_at: UtcDatetime


class ProspectWonV1(LeadEventPayload):
    """A sale was recorded."""

    event_type = "prospect.won"
    event_version = 1
    producer = "assignment"

    consultant_id: str
    won_at: UtcDatetime
    vehicle: VehicleV1 | None = Field(default=None, description="The vehicle sold")
    amount: Decimal | None = None
    currency: str | None = Field(default=None, description="ISO 4217 code")
    reactivated: bool = Field(
        default=False, description="The prospect came back through recovery (recovered revenue)"
    )


class ProspectLostV1(CodedLoss, LeadEventPayload):
    """The consultant wrote the prospect off with a reason code."""

    event_type = "prospect.lost"
    event_version = 1
    producer = "assignment"

    consultant_id: str
    note: str | None = Field(default=None, description="Free text, only beside a code")
    lost_at: UtcDatetime
    competitor_brand: str | None = Field(
        default=None, description="The brand bought instead (bought_elsewhere.*)"
    )
    competitor_dealer: str | None = Field(
        default=None, description="The dealer bought from (bought_elsewhere.*)"
    )
    postponed_until: date | None = Field(
        default=None, description="When the person means to buy (prospect.postponed)"
    )
    do_not_contact: bool = Field(
        default=False, description="The person must not be contacted again, anywhere"
    )
    # What recovery needs to follow the loss up without reading assignment's data.
    person: PersonV1 | None = Field(default=None, description="Who was lost")
    enquiries: tuple[EnquiryV1, ...] = Field(
        default=(), description="Every enquiry of the lead, the first one first"
    )
    language: str | None = Field(default=None, description="Language the person prefers")
    consent: ConsentV1 | None = Field(
        default=None, description="What the person agreed to, if the producer keeps it"
    )
    unusable_channels: tuple[Channel, ...] = Field(
        default=(), description="Channels known not to work: never tried again"
    )
    reached: bool | None = Field(
        default=None, description="Whether the person was ever reached (null: not said)"
    )

"""Events crm-queue publishes: the CRM department's first contact, and how it ended."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.base import LeadEventPayload, UtcDatetime, WireModel
from shared.contracts.common import (
    Channel,
    ConsentV1,
    ContactOutcome,
    PersonV1,
    SourceKind,
    VehicleV1,
)
from shared.contracts.lost_reasons import QualifyingOutcome
from shared.contracts.reason import CodedLoss


class LeadContactAttemptedV1(LeadEventPayload):
    """One contact attempt by an agent: channel and outcome."""

    event_type = "lead.contact_attempted"
    event_version = 1
    producer = "crm-queue"

    attempt_id: UUID
    attempt_number: int = Field(ge=1)
    channel: Channel
    outcome: ContactOutcome
    agent_id: str
    note: str | None = None
    attempted_at: UtcDatetime
    next_attempt_due_at: UtcDatetime | None = None
    automatic: bool = Field(
        default=False,
        description="An automatic reply (an auto-response email or text sent by a system), not "
        "a person's contact: it neither stops the SLA nor counts toward the persistence minimum, "
        "and speed to lead leaves it out",
    )


class LeadSlaBreachedV1(LeadEventPayload):
    """First contact was not made before the SLA due time; escalated, published once."""

    event_type = "lead.sla_breached"
    event_version = 1
    producer = "crm-queue"

    task_id: UUID
    due_at: UtcDatetime
    breached_at: UtcDatetime
    escalated_to_role: str = Field(default="manager", description="Role the task went to")


class EnquiryV1(WireModel):
    """One enquiry of the lead (the first, then each merged duplicate): where it came from and
    what the person asked about. Fields the producer did not keep are null or empty."""

    received_at: UtcDatetime
    source_id: str | None = None
    source_kind: SourceKind | None = None
    source_name: str | None = None
    campaign: str | None = None
    vehicle: VehicleV1 | None = Field(default=None, description="Vehicle of interest")
    trade_ins: tuple[VehicleV1, ...] = ()
    comments: str | None = None


class AppointmentV1(WireModel):
    """An appointment the agent booked while qualifying (checked: after the qualification)."""

    at: UtcDatetime
    kind: Literal["showroom", "test_drive"]


class LeadQualifiedV1(LeadEventPayload):
    """The lead became a prospect, with the qualifying outcome: assignment takes it from here.

    Since the first version it also carries what assignment needs to route and work the
    prospect without reading crm-queue's data: the person, every enquiry (source, campaign,
    vehicle, trade-ins), a checked appointment and whether the prospect is hot.
    """

    event_type = "lead.qualified"
    event_version = 1
    producer = "crm-queue"

    outcome: QualifyingOutcome
    agent_id: str
    details: str | None = None
    appointment_at: UtcDatetime | None = None
    attempts: int = Field(
        ge=0,
        description="Contact attempts made by people before qualifying (automatic replies "
        "not counted)",
    )
    qualified_at: UtcDatetime
    hot: bool = Field(
        default=False, description="Act at once: the booked appointment is within 24 h"
    )
    person: PersonV1 | None = Field(default=None, description="Who became a prospect")
    enquiries: tuple[EnquiryV1, ...] = Field(
        default=(), description="Every enquiry of the lead, the first one first"
    )
    appointment: AppointmentV1 | None = Field(
        default=None, description="The appointment booked, for appointment outcomes only"
    )
    language: str | None = Field(
        default=None, description="Language the person prefers (BCP 47, e.g. `de`), if known"
    )


class LeadLostV1(CodedLoss, LeadEventPayload):
    """The CRM department wrote the lead off with a reason code."""

    event_type = "lead.lost"
    event_version = 1
    producer = "crm-queue"

    note: str | None = Field(default=None, description="Free text, only beside a code")
    agent_id: str | None = None
    attempts: int = Field(
        ge=0,
        description="Contact attempts made by people before the loss (automatic replies "
        "not counted)",
    )
    lost_at: UtcDatetime
    do_not_contact: bool = False
    automatic: bool = Field(
        default=False,
        description="Closed by crm-queue itself, not by an agent (agent_id is null): the lead "
        "stayed in the pool for the dealership's pool period without being reached",
    )
    min_attempts: int | None = Field(
        default=None,
        ge=1,
        description="The dealership's minimum contact attempts (crm-queue's persistence policy) "
        "when the lead was lost, so losses below it can be counted; null: not said",
    )
    # What recovery needs to follow the loss up without reading crm-queue's data.
    person: PersonV1 | None = Field(default=None, description="Who was lost")
    enquiries: tuple[EnquiryV1, ...] = Field(
        default=(), description="Every enquiry of the lead, the first one first"
    )
    consent: ConsentV1 | None = Field(
        default=None, description="What the person agreed to, if the producer keeps it"
    )
    unusable_channels: tuple[Channel, ...] = Field(
        default=(),
        description="Channels known not to work (a wrong number: call, sms, whatsapp; a "
        "bounced email: email): never tried again",
    )
    reached: bool | None = Field(
        default=None, description="Whether any attempt reached the person (null: not said)"
    )

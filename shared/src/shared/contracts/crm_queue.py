"""Events crm-queue publishes: the CRM department's first contact, and how it ended."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from shared.contracts.base import LeadEventPayload, UtcDatetime
from shared.contracts.common import Channel, ContactOutcome
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


class LeadSlaBreachedV1(LeadEventPayload):
    """First contact was not made before the SLA due time; escalated, published once."""

    event_type = "lead.sla_breached"
    event_version = 1
    producer = "crm-queue"

    task_id: UUID
    due_at: UtcDatetime
    breached_at: UtcDatetime
    escalated_to_role: str = Field(default="manager", description="Role the task went to")


class LeadQualifiedV1(LeadEventPayload):
    """The lead became a prospect, with the qualifying outcome: assignment takes it from here."""

    event_type = "lead.qualified"
    event_version = 1
    producer = "crm-queue"

    outcome: QualifyingOutcome
    agent_id: str
    details: str | None = None
    appointment_at: UtcDatetime | None = None
    attempts: int = Field(ge=0, description="Contact attempts made before qualifying")
    qualified_at: UtcDatetime
    hot: bool = False


class LeadLostV1(CodedLoss, LeadEventPayload):
    """The CRM department wrote the lead off with a reason code."""

    event_type = "lead.lost"
    event_version = 1
    producer = "crm-queue"

    note: str | None = Field(default=None, description="Free text, only beside a code")
    agent_id: str | None = None
    attempts: int = Field(ge=0, description="Contact attempts made before the loss")
    lost_at: UtcDatetime
    do_not_contact: bool = False
    automatic: bool = Field(
        default=False,
        description="Closed by crm-queue itself, not by an agent (agent_id is null): the lead "
        "stayed in the pool for the dealership's pool period without being reached",
    )

"""crm-queue's HTTP bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import LostReasonCode, QualifyingOutcome

ChannelIn = Literal["call", "email", "sms", "whatsapp"]
OutcomeIn = Literal["no_answer", "voicemail", "reached", "wrong_number", "bounced"]


# C0 controls but tab and newline, DEL, C1 controls: PostgreSQL refuses NUL in text (a 500), and
# the others have no place in a note a colleague reads.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _no_control_characters(value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise ValueError("control characters are not allowed (tab and newline are)")
    return value


FreeText = Annotated[
    str | None, Field(default=None, max_length=4000), AfterValidator(_no_control_characters)
]


class CommandIn(BaseModel):
    """An agent's request body: a field this API does not know is refused, never ignored."""

    model_config = ConfigDict(extra="forbid")


class AttemptIn(CommandIn):
    channel: ChannelIn
    outcome: OutcomeIn
    note: FreeText = None


class QualifyIn(CommandIn):
    outcome: QualifyingOutcome
    details: FreeText = None
    appointment_at: AwareDatetime | None = Field(
        default=None, description="required for appointment.* outcomes, and later than now"
    )
    hot: bool = Field(
        default=False, description="ready to buy: carried to assignment in lead.qualified"
    )


class LoseIn(CommandIn):
    reason_code: LostReasonCode = Field(description="a code from the closed list; never free text")
    note: Annotated[FreeText, Field(description="free text, only beside a code")] = None


class AttemptOut(BaseModel):
    number: int
    agent_id: str
    channel: str
    outcome: str
    note: str | None
    at: datetime


class TaskOut(BaseModel):
    lead_id: UUID
    dealership_id: str
    state: str
    source_id: str | None = None
    source_name: str | None = None
    source_kind: str | None = None
    person: dict[str, Any] = {}
    vehicle: dict[str, Any] | None = None
    comments: str | None = None
    received_at: datetime
    sla_due_at: datetime
    last_enquiry_at: datetime
    enquiries: int
    next_attempt_due_at: datetime | None
    round: int
    leased_by: str | None
    lease_until: datetime | None
    sla_breached_at: datetime | None
    escalated_at: datetime | None
    do_not_contact: bool
    no_consent_channels: list[str] = Field(
        default=[], description="channels the lead's consent rules out (attempts refused)"
    )
    outcome: str | None
    closed_at: datetime | None
    attempts_made: int = 0
    attempts: list[AttemptOut] = []


class Refusal(BaseModel):
    error: Literal["refused"] = "refused"
    rule: str
    message: str

"""crm-queue's HTTP bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import LostReasonCode, QualifyingOutcome

ChannelIn = Literal["call", "email", "sms", "whatsapp"]
OutcomeIn = Literal["no_answer", "voicemail", "reached", "wrong_number", "bounced"]


class AttemptIn(BaseModel):
    channel: ChannelIn
    outcome: OutcomeIn
    note: str | None = Field(default=None, max_length=4000)


class QualifyIn(BaseModel):
    outcome: QualifyingOutcome
    details: str | None = Field(default=None, max_length=4000)
    appointment_at: AwareDatetime | None = None


class LoseIn(BaseModel):
    reason_code: LostReasonCode = Field(description="a code from the closed list; never free text")
    note: str | None = Field(
        default=None, max_length=4000, description="free text, only beside a code"
    )


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
    outcome: str | None
    closed_at: datetime | None
    attempts_made: int = 0
    attempts: list[AttemptOut] = []


class Refusal(BaseModel):
    error: Literal["refused"] = "refused"
    rule: str
    message: str


# The policy JSON, for the OpenAPI document: `crm_queue.domain.policy.Policy.from_json` reads
# and checks it (cross-field rules too), these models only describe it.
Duration = Annotated[
    str,
    Field(
        pattern=r"^P(\d+W|\d+D|(\d+D)?T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)$",
        description="ISO 8601 duration of days, hours, minutes, seconds (or weeks alone)",
        examples=["PT15M", "P1D", "P1DT12H"],
    ),
]
WallTime = Annotated[
    str,
    Field(
        pattern=r"^(([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?|24:00)$",
        description='local wall time "HH:MM"; "24:00" ends an interval at midnight',
    ),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Interval = Annotated[
    list[WallTime], Field(min_length=2, max_length=2, description="[start, end], start first")
]


class OpeningHoursIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(description="IANA time zone, e.g. Europe/Berlin")
    week: dict[Weekday, list[Interval]] = Field(
        default={},
        description='open intervals per weekday, e.g. {"mon": [["09:00", "18:00"]]}; a missing '
        "day is closed",
    )
    closed_dates: list[date] = Field(default=[], description="public holidays, closed all day")


class PolicyIO(BaseModel):
    """A dealership's first-contact policy. Only `hours` is required; the rest has defaults."""

    model_config = ConfigDict(extra="forbid")

    hours: OpeningHoursIO
    sla: Duration = Field(default="PT15M", description="counted in opening hours only")
    min_attempts: int = Field(default=6, ge=1, description="before not_reached.max_attempts")
    min_days: int = Field(default=5, ge=0)
    min_channels: int = Field(default=2, ge=1, le=4)
    first_round: list[Duration] = Field(
        default=["PT2H", "P1D", "P1D", "P1D", "P2D"], description="gaps between attempts"
    )
    second_round: list[Duration] = Field(default=["P7D", "P7D"])
    lease: Duration = Field(default="PT10M", description="at most 8 hours")

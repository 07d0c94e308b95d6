"""crm-queue's HTTP bodies."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import LostReasonCode, QualifyingOutcome
from shared.contracts.common import SourceKind

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
    automatic: bool = Field(
        default=False,
        description="an automatic reply sent by a system (auto-response email or text), not a "
        "person: recorded and published as such, but it stops no SLA, moves no cadence and "
        "counts toward no persistence minimum",
    )


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
    automatic: bool = False


class WarningOut(BaseModel):
    field: str
    reason: str
    value: str | None = None


class EnquiryOut(BaseModel):
    """One enquiry of the lead, as the customer made it: the lead's own first (`kind` lead),
    then each time they asked again (`repeat`), with the contact details given that time."""

    kind: Literal["lead", "repeat"]
    enquiry_id: UUID
    received_at: datetime
    dealership_id: str | None = Field(
        default=None, description="the dealership the enquiry was addressed to"
    )
    source: dict[str, Any] = Field(description="source_id, kind, name, campaign, channel")
    person: dict[str, Any] | None = None
    vehicle: dict[str, Any] | None = None
    trade_ins: list[dict[str, Any]] = []
    comments: str | None = None
    consent: dict[str, Any] | None = None


class TaskOut(BaseModel):
    lead_id: UUID
    dealership_id: str
    state: str = Field(
        description="open | pool | qualified | lost | do_not_contact (a lead of a person who "
        "must never be contacted: in the managers' view, never in the queue)"
    )
    source_id: str | None = None
    source_name: str | None = None
    source_kind: str | None = None
    person: dict[str, Any] = Field(
        default={},
        description="the lead's person, with the new phones and e-mails later enquiries gave "
        "(other_phones, other_emails)",
    )
    vehicle: dict[str, Any] | None = None
    comments: str | None = None
    warnings: list[WarningOut] = Field(
        default=[],
        description="what intake dropped from the lead, e.g. a phone number that does not "
        "parse, kept as written in `value` so it can still be read and tried",
    )
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
    enquiry_list: list[EnquiryOut] = Field(
        default=[], description="every enquiry of the lead (one lead's answer only, not lists)"
    )


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


class DefaultHoursIO(BaseModel):
    """The dealer group's default opening hours, read in each dealership's own time zone."""

    model_config = ConfigDict(extra="forbid")

    week: dict[Weekday, list[Interval]] = Field(
        description='open intervals per weekday, e.g. {"mon": [["09:00", "19:00"]]}; a missing '
        "day is closed",
    )
    closed_dates: list[date] = Field(default=[], description="public holidays, closed all day")


class BusinessDaysIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_days: int = Field(ge=1, le=30)


def _default_sla_by_source() -> dict[SourceKind, Duration | BusinessDaysIO]:
    return {"event": BusinessDaysIO(business_days=1), "list": BusinessDaysIO(business_days=3)}


class PolicyIO(BaseModel):
    """A dealership's first-contact policy. Only `hours` is required; the rest has defaults."""

    model_config = ConfigDict(extra="forbid")

    hours: OpeningHoursIO
    sla: Duration = Field(default="PT15M", description="counted in opening hours only")
    sla_by_source: dict[SourceKind, Duration | BusinessDaysIO] = Field(
        default_factory=_default_sla_by_source,
        description="the SLA of leads from a source kind, instead of `sla`: a duration of "
        'opening time or {"business_days": n} (due when the doors close on the n-th opening '
        "day after the lead arrived); kinds left out use `sla`",
    )
    min_attempts: int = Field(default=6, ge=1, description="before not_reached.max_attempts")
    min_attempt_days: int = Field(
        default=3, ge=1, description="different local days with an attempt, before not_reached.*"
    )
    min_days: int = Field(default=5, ge=0, description="from the first attempt to the last")
    min_channels: int = Field(default=2, ge=1, le=4)
    first_round: list[Duration] = Field(
        default=["PT2H", "P1D", "P1D", "P1D", "P2D"], description="gaps between attempts"
    )
    second_round: list[Duration] = Field(default=["P7D", "P7D"])
    lease: Duration = Field(default="PT10M", description="at most 8 hours")
    pool_period: Duration = Field(
        default="P30D",
        description="a lead in the pool this long without contact is closed as "
        "not_reached.max_attempts",
    )

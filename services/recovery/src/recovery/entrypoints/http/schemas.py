"""recovery's HTTP bodies. Every text and list is capped, and control characters are refused
(PostgreSQL rejects NUL, and none belongs in a name or a note): a 422 names the field."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from recovery.domain.cadence import MAX_STEPS, RECOVERABLE, check_days
from shared.contracts import LostReasonCode

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline are fine in a note
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value.strip()


def _one_line(value: str) -> str:
    if _LINE_CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value.strip()


def _days(value: list[int]) -> list[int]:
    return list(check_days(value))


Short = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Note = Annotated[str, Field(max_length=4000), AfterValidator(_no_control)]
Days = Annotated[list[int], Field(min_length=1, max_length=MAX_STEPS), AfterValidator(_days)]
ChannelIn = Literal["call", "email", "sms", "whatsapp"]
OutcomeIn = Literal[
    "reactivated",
    "still_lost",
    "bought_elsewhere",
    "dead",
    "do_not_contact",
    "no_answer",
    "voicemail",
    "wrong_number",
    "bounced",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutcomeBody(Strict):
    """What came of the follow-up. `reactivated`: back in the market, a hot prospect for
    assignment; `still_lost`: the next step per the cadence (with `reason_code`, the reason as
    it stands now); `bought_elsewhere`: `same_brand` (and the brand and dealer if known);
    `dead`: no more contact; `do_not_contact`: the person asked never to be contacted;
    `no_answer`, `voicemail`, `wrong_number`, `bounced`: nobody reached, next step (a wrong
    number or bounced email is never used again)."""

    outcome: OutcomeIn
    channel: ChannelIn | None = Field(default=None, description="Default: the step's channel")
    note: Note | None = None
    reason_code: LostReasonCode | None = Field(default=None, description="still_lost only")
    same_brand: bool | None = Field(default=None, description="bought_elsewhere: required")
    brand: Short | None = Field(default=None, description="bought_elsewhere: the brand bought")
    dealer: Name | None = Field(default=None, description="bought_elsewhere: where")


class CadencesIn(Strict):
    """Days after the loss (or after a postponed purchase's date) of each step. `default`
    applies to every recoverable reason without days of its own (null: day 3, 7, 14, 30, 60,
    90; reasons with a short cadence: 3, 7, 14)."""

    default: Days | None = None
    reasons: Annotated[dict[LostReasonCode, Days], Field(max_length=len(LostReasonCode))] = {}

    @field_validator("reasons")
    @classmethod
    def _recoverable(cls, value: dict[LostReasonCode, list[int]]) -> dict[LostReasonCode, Any]:
        for code in value:
            if code not in RECOVERABLE:
                raise ValueError(f"{code.value}: recovery never follows this reason up")
        return value


class CadencesOut(BaseModel):
    default: list[int] | None
    reasons: dict[str, list[int]]
    effective: dict[str, list[int]] = Field(description="Every recoverable reason's days")


class AttemptOut(BaseModel):
    attempt_id: UUID
    step: int
    channel: str
    outcome: str
    agent_id: str | None
    note: str | None
    at: datetime


class RecoveryOut(BaseModel):
    recovery_id: UUID
    lead_id: UUID
    dealership_id: str | None
    origin: str
    reason_code: str
    lost_at: datetime
    starts_at: datetime
    cadence: list[int]
    email_only: bool
    state: str = Field(description="scheduled | due | ended")
    step: int
    due_at: datetime | None
    channel: str | None
    outcome: str | None = Field(description="How it ended")
    ended_at: datetime | None
    returned_lead_id: UUID | None
    person: dict[str, Any]
    consent: dict[str, Any]
    enquiries: list[dict[str, Any]]
    language: str | None
    consultant_id: str | None
    unusable_channels: list[str]
    reached: bool | None
    leased_by: str | None
    lease_until: datetime | None
    attempts: list[AttemptOut] = []


class Refusal(BaseModel):
    error: Literal["refused"] = "refused"
    rule: str
    message: str

"""assignment's HTTP bodies. Every text and list is capped, and control characters are refused
(PostgreSQL rejects NUL, and none belongs in a name or a note): a 422 names the field."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from assignment.domain.consultant import DEFAULT_CAP
from assignment.domain.schedule import zone_of
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


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Short = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]
Note = Annotated[str, Field(max_length=4000), AfterValidator(_no_control)]
ConsultantId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")]
DealershipId = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]
Clock = Annotated[str, Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]
Language = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
Method = Literal["round_robin", "least_loaded", "close_rate", "up_for_grabs"]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _timezone(value: str) -> str:
    zone_of(value)
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_timezone)]


class HoursIn(Strict):
    timezone: TimeZone
    week: dict[DayName, Annotated[list[tuple[Clock, Clock]], Field(max_length=6)]] = {}


class AbsenceIn(Strict):
    start: AwareDatetime
    end: AwareDatetime
    reason: Short | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AbsenceIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ConsultantIn(Strict):
    """A consultant's profile. `consultant_id` is the subject of their staff token."""

    dealership_id: DealershipId
    name: Name
    brands: Annotated[list[Short], Field(max_length=50)] = Field(
        default=[], description="Brands they sell; empty: every brand"
    )
    conditions: Annotated[list[Literal["new", "used"]], Field(max_length=2)] = Field(
        default=[], description="new, used; empty: both"
    )
    languages: Annotated[list[Language], Field(max_length=20)] = []
    hours: HoursIn | None = Field(default=None, description="Working hours; none: clock in")
    absences: Annotated[list[AbsenceIn], Field(max_length=100)] = []
    cap: int = Field(default=DEFAULT_CAP, ge=0, le=1000, description="Open prospects at most")
    active: bool = True


class NewConsultantIn(ConsultantIn):
    consultant_id: ConsultantId


class ConsultantOut(BaseModel):
    consultant_id: str
    dealership_id: str
    name: str
    brands: list[str]
    conditions: list[str]
    languages: list[str]
    hours: dict[str, Any] | None
    absences: list[dict[str, Any]]
    cap: int
    active: bool
    clocked: bool | None = Field(description="true in, false out, null follows the schedule")
    present: bool
    open_prospects: int
    last_assigned_at: datetime | None


class MatchIn(Strict):
    sources: Annotated[list[Short], Field(max_length=100)] = []
    source_kinds: Annotated[
        list[Literal["website", "marketplace", "oem", "chat", "phone", "event", "list"]],
        Field(max_length=7),
    ] = []
    campaigns: Annotated[list[Short], Field(max_length=100)] = []
    makes: Annotated[list[Short], Field(max_length=50)] = []
    conditions: Annotated[list[Literal["new", "used"]], Field(max_length=2)] = []
    days: Annotated[list[DayName], Field(max_length=7)] = []
    time_from: Clock | None = None
    time_to: Clock | None = None
    hot: bool | None = None


class RuleIn(Strict):
    name: Short
    match: MatchIn = MatchIn()
    pool: Annotated[list[ConsultantId], Field(max_length=500)] = Field(
        default=[], description="Consultant ids; empty: every consultant of the dealership"
    )
    method: Method = "round_robin"


class DefaultPoolIn(Strict):
    pool: Annotated[list[ConsultantId], Field(max_length=500)] = []
    method: Method = "round_robin"


class RoutingIn(Strict):
    """The dealership's routing rules, in order, and its prospects' accountability times."""

    timezone: TimeZone = "UTC"
    rules: Annotated[list[RuleIn], Field(max_length=100)] = []
    default: DefaultPoolIn = DefaultPoolIn()
    normal_sla_hours: float = Field(
        default=48, gt=0, le=24 * 30, description="A normal prospect is acted on within this"
    )
    rotate_after_minutes: float | None = Field(
        default=None,
        gt=0,
        le=24 * 60,
        description="An untouched new prospect moves to the next consultant after this",
    )


class ActivityIn(Strict):
    kind: Literal["call", "email", "appointment", "test_drive", "quote", "note"]
    note: Note | None = None
    at: AwareDatetime | None = Field(default=None, description="When it happened; default now")
    next_follow_up_at: AwareDatetime | None = None


class VehicleIn(Strict):
    year: int | None = Field(default=None, ge=1900, le=2100)
    make: Short | None = None
    model: Short | None = None
    trim: Short | None = None
    vin: Annotated[str, Field(pattern=r"^[A-HJ-NPR-Z0-9]{17}$")] | None = None
    stock: Short | None = None
    condition: Literal["new", "used", "certified"] | None = None


class WinIn(Strict):
    vehicle: VehicleIn
    price: Decimal = Field(ge=0, le=Decimal("100000000"), max_digits=12, decimal_places=2)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class LoseIn(Strict):
    reason_code: LostReasonCode = Field(description="A code from the closed list")
    note: Note | None = Field(default=None, description="Free text, only beside a code")
    competitor_brand: Short | None = Field(default=None, description="bought_elsewhere.*")
    competitor_dealer: Name | None = Field(default=None, description="bought_elsewhere.*")
    postponed_until: date | None = Field(default=None, description="prospect.postponed")


class ReassignIn(Strict):
    consultant_id: ConsultantId


class ActivityOut(BaseModel):
    activity_id: UUID = Field(description="For an enquiry: intake's enquiry id")
    consultant_id: str | None = Field(description="Who logged it; null for an enquiry")
    kind: str = Field(
        description="call, email, appointment, test_drive, quote, note; or enquiry: the "
        "person asked again (note: their comments)"
    )
    note: str | None
    at: datetime
    next_follow_up_at: datetime | None
    details: dict[str, Any] | None = Field(
        default=None,
        description="An enquiry's source, the dealership it was addressed to, the contact "
        "details, vehicle and trade-ins as given that time",
    )


class ProspectOut(BaseModel):
    lead_id: UUID
    dealership_id: str
    state: str
    consultant_id: str | None
    hot: bool
    reactivated: bool
    person: dict[str, Any]
    enquiries: list[dict[str, Any]]
    appointment: dict[str, Any] | None
    language: str | None
    outcome: str | None
    qualified_at: datetime | None
    reactivated_at: datetime | None
    reason: str | None
    reason_detail: str | None
    rule: str | None
    rule_version: int | None
    method: str | None
    assigned_at: datetime | None
    respond_by: datetime | None
    acted_at: datetime | None
    escalated_at: datetime | None
    next_follow_up_at: datetime | None
    enquired_at: datetime | None = Field(
        default=None,
        description="The person asked again then (an activity of kind enquiry) and the "
        "consultant has not logged an activity since",
    )
    waiting_since: datetime | None
    do_not_contact: bool
    erased_at: datetime | None
    closed_at: datetime | None
    close_details: dict[str, Any] | None
    activities: list[ActivityOut] = []


class Refusal(BaseModel):
    error: Literal["refused"] = "refused"
    rule: str
    message: str

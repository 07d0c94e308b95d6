"""Events recovery publishes: the re-engagement cadence of lost leads and prospects, its ends."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.base import LeadEventPayload, UtcDatetime
from shared.contracts.common import Channel, ConsentV1, Origin, PersonV1, VehicleV1
from shared.contracts.crm_queue import EnquiryV1
from shared.contracts.lost_reasons import LostReasonCode

# Contact-level outcomes, then what the conversation decided; `sent` is an email or SMS out.
RecoveryOutcome = Literal[
    "no_answer",
    "voicemail",
    "wrong_number",
    "bounced",
    "sent",
    "still_lost",
    "reactivated",
    "bought_elsewhere",
    "do_not_contact",
    "dead",
]

# How a recovery run ended: by the team (reactivated, bought_elsewhere, dead, do_not_contact),
# by the person coming back on their own (returned), by the cadence running out (exhausted),
# or by consent and data (erased), a reason that is not followed up (not_recoverable), no
# channel left to use (no_channel), or a newer loss of the same lead (superseded).
RecoveryEnd = Literal[
    "reactivated",
    "bought_elsewhere",
    "dead",
    "do_not_contact",
    "returned",
    "exhausted",
    "erased",
    "not_recoverable",
    "no_channel",
    "superseded",
]


class RecoveryScheduledV1(LeadEventPayload):
    """The next follow-up of a lost lead or prospect is due at `due_at`."""

    event_type = "recovery.scheduled"
    event_version = 1
    producer = "recovery"

    recovery_id: UUID
    step: int = Field(ge=1, description="Position in the cadence (day 3, 7, 14, 30, 60, 90)")
    due_at: UtcDatetime
    channel: Channel
    origin: Origin
    reason_code: LostReasonCode = Field(description="Why the lead or prospect was lost")


class RecoveryAttemptedV1(LeadEventPayload):
    """A follow-up was made, with its outcome."""

    event_type = "recovery.attempted"
    event_version = 1
    producer = "recovery"

    recovery_id: UUID
    step: int = Field(ge=1)
    channel: Channel
    outcome: RecoveryOutcome
    agent_id: str | None = Field(default=None, description="None for an automated email or SMS")
    note: str | None = None
    attempted_at: UtcDatetime


class LeadReactivatedV1(LeadEventPayload):
    """Back in the market: a hot prospect for assignment to give a consultant at once."""

    event_type = "lead.reactivated"
    event_version = 1
    producer = "recovery"

    recovery_id: UUID
    origin: Origin
    previous_reason_code: LostReasonCode
    reactivated_at: UtcDatetime
    hot: bool = True
    note: str | None = None
    # What assignment needs to route and work the prospect without reading recovery's data.
    person: PersonV1 | None = Field(default=None, description="Who is back in the market")
    enquiries: tuple[EnquiryV1, ...] = Field(
        default=(), description="The lost lead's enquiries, the first one first"
    )
    vehicle: VehicleV1 | None = Field(
        default=None, description="The vehicle of interest (of the first enquiry, or updated)"
    )
    consent: ConsentV1 | None = None
    language: str | None = Field(default=None, description="Language the person prefers")
    consultant_id: str | None = Field(
        default=None, description="The consultant the lost prospect had (sticky assignment)"
    )
    agent_id: str | None = Field(default=None, description="Who reactivated it")


class LeadBoughtElsewhereV1(LeadEventPayload):
    """The person bought at another dealer: recorded, and the cadence ends."""

    event_type = "lead.bought_elsewhere"
    event_version = 1
    producer = "recovery"

    recovery_id: UUID
    same_brand: bool
    brand: str | None = None
    recorded_at: UtcDatetime
    reason_code: LostReasonCode | None = Field(
        default=None, description="bought_elsewhere.same_brand or bought_elsewhere.other_brand"
    )
    action: str | None = Field(
        default=None,
        description="The follow-up the reason table names (aftersales campaign, conquest "
        "campaign later), for marketing automation",
    )
    dealer: str | None = Field(default=None, description="Where the person bought")
    origin: Origin | None = None


class LeadDeadV1(LeadEventPayload):
    """No more contact with this lead, ever (cadence exhausted, do-not-contact, ...)."""

    event_type = "lead.dead"
    event_version = 1
    producer = "recovery"

    recovery_id: UUID | None = None
    reason: str = Field(
        description="Why: cadence_exhausted, do_not_contact, not_recoverable, ...",
        examples=["cadence_exhausted", "do_not_contact", "not_recoverable"],
    )
    dead_at: UtcDatetime


class RecoveryEndedV1(LeadEventPayload):
    """A recovery run ended: how, and after how many steps. The person coming back on their
    own (`returned`) is counted apart from the team's reactivations."""

    event_type = "recovery.ended"
    event_version = 1
    producer = "recovery"

    recovery_id: UUID
    origin: Origin
    reason_code: LostReasonCode = Field(description="The lost-reason code it ended with")
    outcome: RecoveryEnd
    steps: int = Field(ge=0, description="Cadence steps opened before the end")
    ended_at: UtcDatetime
    returned_lead_id: UUID | None = Field(
        default=None, description="For `returned`: the person's new lead"
    )

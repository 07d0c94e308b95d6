"""Events recovery publishes: the re-engagement cadence of lost leads and prospects, its ends."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.base import LeadEventPayload, UtcDatetime
from shared.contracts.common import Channel, Origin
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


class LeadBoughtElsewhereV1(LeadEventPayload):
    """The person bought at another dealer: recorded, and the cadence ends."""

    event_type = "lead.bought_elsewhere"
    event_version = 1
    producer = "recovery"

    recovery_id: UUID
    same_brand: bool
    brand: str | None = None
    recorded_at: UtcDatetime


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

"""The first-contact task of one lead: lease, attempts, SLA, and how it ends. Pure Python.

Every method takes `now` from the caller's injected clock; the task never reads the time.
Changes that the rest of the funnel must hear about append a `DomainEvent` to `events`, each with
the next value of the per-lead `sequence`; the unit of work publishes them with the task's rows.

Refusals (`Refused.rule`, stable codes an API can map and a UI can translate):
- `task.closed`: the task is already qualified or lost.
- `lease.held_by_other`: another agent holds an unexpired lease on the task.
- `lease.required`: the agent must claim the task first (managers act without a lease).
- `contact.do_not_contact`: the person must not be contacted (attempts and qualifying refused).
- `contact.no_consent`: the lead's consent says no to this channel (`channels_refused`).
- `attempt.channel_unknown`, `attempt.outcome_unknown`: not a contract `Channel`/`ContactOutcome`.
- `outcome.unknown`: not a `QualifyingOutcome`.
- `reason.required`: losing needs a reason code.
- `reason.note_without_code`: free text was given without a reason code.
- `reason.unknown`: the code is not in the closed list of lost reasons.
- `reason.not_for_leads`: a `prospect.*` code; those are for prospects, after qualifying.
- `reason.needs_contact`: `not_reached.refused_call`, a `no_interest.*` or `bought_elsewhere.*`
  code with no attempt in which the customer was reached (only the customer can have said so);
  `no_interest.do_not_contact` on a person already marked so needs none.
- `persistence.min_attempts`, `persistence.min_attempt_days`, `persistence.min_days`,
  `persistence.min_channels`: a `not_reached.*` code before the dealership's minimum persistence
  (first unmet rule, see `cadence.persistence_shortfall`).
- `appointment.required`, `appointment.not_in_future`: qualifying with an `appointment.*`
  outcome needs `appointment_at`, later than now.

Outcomes of an attempt:
- `no_answer`, `voicemail`: the next attempt is scheduled by the cadence (see `cadence`); after
  the last round the task goes to the pool, until `policy.pool_period` later
  (`expire_from_pool` then closes it as not reached, unless a reach or a new enquiry took it
  out).
- `reached`: nothing is scheduled; the agent now qualifies or loses the lead. A pool task that
  is reached comes back to "open".
- `wrong_number`, `bounced`: the channel (for a wrong number every phone channel: call, sms,
  whatsapp) is marked unusable for the agent's next choice, and the cadence goes on as for an
  unanswered attempt; with no usable channel left nothing is scheduled and the task waits for
  an agent to lose it (`invalid.personal_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID, uuid4

from crm_queue.domain._time import as_utc
from crm_queue.domain.cadence import next_step, persistence_shortfall
from crm_queue.domain.events import AttemptRecorded, DomainEvent, Lost, Qualified, SlaBreached
from crm_queue.domain.policy import CHANNELS, Policy
from shared.contracts.common import Channel, ContactOutcome
from shared.contracts.lost_reasons import (
    LostReasonCategory,
    LostReasonCode,
    QualifyingOutcome,
    category_of,
)

TASK_CLOSED = "task.closed"
LEASE_HELD_BY_OTHER = "lease.held_by_other"
LEASE_REQUIRED = "lease.required"
DO_NOT_CONTACT = "contact.do_not_contact"
NO_CONSENT = "contact.no_consent"
CHANNEL_UNKNOWN = "attempt.channel_unknown"
OUTCOME_UNKNOWN = "attempt.outcome_unknown"
QUALIFYING_OUTCOME_UNKNOWN = "outcome.unknown"
REASON_REQUIRED = "reason.required"
REASON_NOTE_WITHOUT_CODE = "reason.note_without_code"
REASON_UNKNOWN = "reason.unknown"
REASON_NOT_FOR_LEADS = "reason.not_for_leads"
REASON_NEEDS_CONTACT = "reason.needs_contact"
APPOINTMENT_REQUIRED = "appointment.required"
APPOINTMENT_IN_PAST = "appointment.not_in_future"

# do_not_contact: a lead of a person who asked never to be contacted. It is recorded (managers
# see it) but is no work for anyone: no SLA, never in the agents' queue, every contact refused.
State = Literal["open", "pool", "qualified", "lost", "do_not_contact"]
CLOSED_STATES: frozenset[str] = frozenset({"qualified", "lost"})
OUTCOMES: tuple[ContactOutcome, ...] = get_args(ContactOutcome)
PHONE_CHANNELS: frozenset[Channel] = frozenset({"call", "sms", "whatsapp"})
SYSTEM = "crm-queue"  # `closed_by` of a task the service closed itself
# Which consent flag of a lead (ConsentV1) covers each channel: WhatsApp is a written message
# to the phone number, like SMS; a call is `phone`.
CONSENT_OF_CHANNEL: dict[Channel, str] = {
    "call": "phone",
    "email": "email",
    "sms": "sms",
    "whatsapp": "sms",
}


def channels_refused(consent: Mapping[str, bool | None]) -> frozenset[Channel]:
    """The channels whose consent flag is an explicit no (None, "not said", allows)."""
    return frozenset(c for c, flag in CONSENT_OF_CHANNEL.items() if consent.get(flag) is False)


# Codes only the customer can have given: an attempt must have reached them.
_SAID_BY_CUSTOMER = frozenset({LostReasonCategory.NO_INTEREST, LostReasonCategory.BOUGHT_ELSEWHERE})


class Refused(Exception):
    """A command the domain rules refuse; `rule` names the rule, `message` explains it."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class Attempt:
    attempt_id: UUID
    number: int  # 1-based, in the order attempts were recorded
    agent_id: str
    channel: Channel
    outcome: ContactOutcome
    note: str | None
    at: datetime
    # Sent by a system (an auto-response), not a person: no first contact, no persistence.
    automatic: bool = False


def _clean(text: str | None) -> str | None:
    return (text.strip() or None) if text is not None else None


@dataclass(kw_only=True)
class Task:
    task_id: UUID
    lead_id: UUID
    tenant_id: str
    dealership_id: str
    state: State = "open"
    # False while only a lead.duplicate has been seen: `received_at` and the SLA are then the
    # duplicate's, provisional until lead.ingested brings the lead's own (see `learn_lead`).
    ingested: bool = True
    received_at: datetime
    source_kind: str | None = None  # the lead's source kind: picks its SLA in the policy
    created_at: datetime
    sla_due_at: datetime
    last_enquiry_at: datetime
    enquiries: int = 1
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_due_at: datetime | None = None
    pool_until: datetime | None = None  # in the pool: closed as not reached from then on
    round: int = 1
    round_gaps_used: int = 0  # gaps of the current round already scheduled
    unusable_channels: frozenset[Channel] = frozenset()
    no_consent_channels: frozenset[Channel] = frozenset()  # the lead's consent said no
    leased_by: str | None = None
    lease_until: datetime | None = None
    sla_breached_at: datetime | None = None
    escalated_at: datetime | None = None
    do_not_contact: bool = False
    outcome: str | None = None  # the qualifying outcome or the lost reason code
    closed_by: str | None = None
    closed_at: datetime | None = None
    sequence: int = 0  # events published for this lead so far; the next one gets sequence + 1
    # The lead's event chain (lead.ingested's correlation id): every event crm-queue publishes
    # about the lead, agents' commands included, carries it.
    correlation_id: str | None = None
    events: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        lead_id: UUID,
        tenant_id: str,
        dealership_id: str,
        received_at: datetime,
        policy: Policy,
        now: datetime,
        task_id: UUID | None = None,
        *,
        ingested: bool = True,
        correlation_id: str | None = None,
        source_kind: str | None = None,
    ) -> Task:
        """A new first-contact task, due by the policy's SLA for its source kind.

        The due time counts from `received_at`, not `now`: a replayed or late event does not
        buy the dealership extra time. `ingested=False`: opened by a lead.duplicate that
        overtook its lead.ingested; `received_at` is the repeat's until `learn_lead`.
        """
        received = as_utc(received_at, "received_at")
        return cls(
            task_id=task_id or uuid4(),
            lead_id=lead_id,
            tenant_id=tenant_id,
            dealership_id=dealership_id,
            ingested=ingested,
            correlation_id=correlation_id,
            received_at=received,
            source_kind=source_kind,
            created_at=as_utc(now, "now"),
            sla_due_at=policy.sla_due_at(received, source_kind),
            last_enquiry_at=received,
        )

    # -- reading ------------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.state in CLOSED_STATES

    @property
    def last_attempt_at(self) -> datetime | None:
        return self.attempts[-1].at if self.attempts else None

    @property
    def human_attempts(self) -> list[Attempt]:
        """The attempts people made: automatic replies stop no SLA and count toward no minimum."""
        return [a for a in self.attempts if not a.automatic]

    @property
    def was_reached(self) -> bool:
        return any(a.outcome == "reached" for a in self.attempts)

    def channels_used(self) -> frozenset[Channel]:
        return frozenset(a.channel for a in self.human_attempts)

    def usable_channels(self) -> tuple[Channel, ...]:
        ruled_out = self.unusable_channels | self.no_consent_channels
        return tuple(c for c in CHANNELS if c not in ruled_out)

    def lease_holder(self, now: datetime) -> str | None:
        """The agent whose lease is still running at `now`, if any."""
        if self.lease_until is not None and as_utc(now, "now") < self.lease_until:
            return self.leased_by
        return None

    def pull_events(self) -> list[DomainEvent]:
        """The pending events, handed over once (the unit of work publishes them)."""
        events, self.events = self.events, []
        return events

    @property
    def awaits_first_contact(self) -> bool:
        """Open, contactable, never tried, not yet breached: its SLA timer must be running."""
        return (
            self.state == "open"
            and not self.human_attempts
            and not self.do_not_contact
            and self.sla_breached_at is None
        )

    # -- commands -----------------------------------------------------------------------------

    def learn_lead(
        self,
        received_at: datetime,
        policy: Policy,
        correlation_id: str | None = None,
        source_kind: str | None = None,
    ) -> bool:
        """lead.ingested arrived: the lead's own time replaces the provisional one.

        Only does something on a task a lead.duplicate opened first (separate queues, so the
        repeat can overtake the lead): the lead's enquiry is counted, its `received_at` is
        taken (with its source kind) and the SLA due time counted again from it, so the task
        ends up exactly as if
        the events had come in order. False (nothing changed) when the lead was already known:
        a redelivered lead.ingested. The lead's event chain (`correlation_id`) replaces the
        repeat's.
        """
        if self.ingested:
            return False
        received = as_utc(received_at, "received_at")
        self.ingested = True
        self.correlation_id = correlation_id or self.correlation_id
        self.enquiries += 1
        self.received_at = received
        self.source_kind = source_kind or self.source_kind
        self.sla_due_at = policy.sla_due_at(received, self.source_kind)
        self.last_enquiry_at = max(self.last_enquiry_at, received)
        return True

    def raise_priority(self, at: datetime) -> bool:
        """The customer asked again (`lead.duplicate` at `at`): call them now.

        A pool task comes back to "open" in a new round; an open task that was already tried is
        due at once. An enquiry older than our last attempt was answered by it, so it is only
        counted. On a closed task only an enquiry made before the close is counted (it arrived
        late: in order it would have been); a later one changes nothing (False).
        """
        at = as_utc(at, "at")
        if self.is_closed:
            if self.closed_at is None or at > self.closed_at:
                return False
            self.enquiries += 1
            self.last_enquiry_at = max(self.last_enquiry_at, at)
            return True
        self.enquiries += 1
        self.last_enquiry_at = max(self.last_enquiry_at, at)
        last = self.last_attempt_at
        if self.do_not_contact or last is None or at <= last:
            return True  # a first-contact task keeps its SLA due time
        if self.state == "pool":
            self._leave_pool()
            self.round += 1
            self.round_gaps_used = 0
            self.next_attempt_due_at = at
        elif self.next_attempt_due_at is None or at < self.next_attempt_due_at:
            self.next_attempt_due_at = at
        return True

    def claim(self, agent_id: str, now: datetime, policy: Policy) -> datetime:
        """Lease the task to `agent_id` until `now + policy.lease` (renews the holder's lease)."""
        now = as_utc(now, "now")
        self._require_not_closed()
        holder = self.lease_holder(now)
        if holder is not None and holder != agent_id:
            raise Refused(LEASE_HELD_BY_OTHER, self._held_message(holder))
        self.leased_by = agent_id
        self.lease_until = now + policy.lease
        return self.lease_until

    def release(self, agent_id: str, now: datetime) -> bool:
        """Give the lease back; True if the agent still held it, False if it had lapsed."""
        now = as_utc(now, "now")
        holder = self.lease_holder(now)
        if holder is not None and holder != agent_id:
            raise Refused(LEASE_HELD_BY_OTHER, self._held_message(holder))
        if self.leased_by != agent_id:
            return False
        self._clear_lease()
        return holder == agent_id

    def mark_do_not_contact(self) -> bool:
        """The person withdrew consent (or asked to be erased): stop every contact now.

        The task stays for an agent or the service to close; nothing is scheduled any more.
        """
        if self.do_not_contact:
            return False
        self.do_not_contact = True
        self.next_attempt_due_at = None
        return True

    def hold_do_not_contact(self) -> bool:
        """A new lead of a person who asked never to be contacted: it is kept for the managers'
        view (state `do_not_contact`) but is no contact task (no SLA, not in the queue). A task
        an agent already worked or closed keeps its state and is only marked."""
        changed = self.mark_do_not_contact()
        if self.state == "open" and not self.attempts:
            self.state = "do_not_contact"
            self.pool_until = None
            return True
        return changed

    def record_attempt(
        self,
        agent_id: str,
        channel: Channel,
        outcome: ContactOutcome,
        note: str | None,
        now: datetime,
        policy: Policy,
        attempt_id: UUID,
        *,
        as_manager: bool = False,
        automatic: bool = False,
    ) -> Attempt:
        """Record one contact attempt and schedule the next one (see the module docstring).

        An `attempt_id` already recorded returns that attempt unchanged: a retried request.
        An `automatic` reply (sent by a system) is recorded and published as such, but leaves
        the SLA and the cadence as they were: only a person's attempt is first contact.
        """
        now = as_utc(now, "now")
        for existing in self.attempts:
            if existing.attempt_id == attempt_id:
                return existing
        self._require_not_closed()
        self._require_contactable()
        if channel not in CHANNELS:
            raise Refused(CHANNEL_UNKNOWN, f"{channel!r} is not one of {', '.join(CHANNELS)}")
        if outcome not in OUTCOMES:
            raise Refused(OUTCOME_UNKNOWN, f"{outcome!r} is not one of {', '.join(OUTCOMES)}")
        if channel in self.no_consent_channels:
            raise Refused(
                NO_CONSENT,
                f"the lead did not consent to {CONSENT_OF_CHANNEL[channel]} contact: no {channel}",
            )
        self._require_lease(agent_id, now, as_manager)
        attempt = Attempt(
            attempt_id,
            len(self.attempts) + 1,
            agent_id,
            channel,
            outcome,
            _clean(note),
            now,
            automatic=automatic,
        )
        self.attempts.append(attempt)
        if outcome == "wrong_number":
            unusable = PHONE_CHANNELS if channel in PHONE_CHANNELS else {channel}
            self.unusable_channels = self.unusable_channels | unusable
        elif outcome == "bounced":
            self.unusable_channels = self.unusable_channels | {channel}
        if not automatic:
            self._schedule_after(outcome, now, policy)
        self.events.append(
            AttemptRecorded(
                **self._event_ids(),
                attempt_id=attempt.attempt_id,
                attempt_number=attempt.number,
                channel=channel,
                outcome=outcome,
                agent_id=agent_id,
                note=attempt.note,
                attempted_at=now,
                next_attempt_due_at=self.next_attempt_due_at,
                automatic=automatic,
            )
        )
        return attempt

    def qualify(
        self,
        agent_id: str,
        outcome: QualifyingOutcome | str,
        details: str | None,
        appointment_at: datetime | None,
        now: datetime,
        *,
        as_manager: bool = False,
        hot: bool = False,
    ) -> None:
        """The lead becomes a prospect: the task closes and assignment takes over.

        An appointment must be booked for a time to come; `hot` (the agent judged the customer
        ready to buy) goes to assignment with the prospect.
        """
        now = as_utc(now, "now")
        self._require_not_closed()
        try:
            qualifying = QualifyingOutcome(outcome)
        except ValueError:
            known = ", ".join(QualifyingOutcome)
            raise Refused(
                QUALIFYING_OUTCOME_UNKNOWN, f"{outcome!r} is not one of {known}"
            ) from None
        self._require_contactable()
        self._require_lease(agent_id, now, as_manager)
        appointment = as_utc(appointment_at, "appointment_at") if appointment_at else None
        if qualifying.value.startswith("appointment."):
            if appointment is None:
                raise Refused(APPOINTMENT_REQUIRED, f"{qualifying.value} needs appointment_at")
            if appointment <= now:
                raise Refused(
                    APPOINTMENT_IN_PAST,
                    f"appointment_at {appointment.isoformat()} is not after now "
                    f"({now.isoformat()})",
                )
        self._close("qualified", qualifying.value, agent_id, now)
        self.events.append(
            Qualified(
                **self._event_ids(),
                outcome=qualifying,
                agent_id=agent_id,
                details=_clean(details),
                appointment_at=appointment,
                attempts=len(self.human_attempts),
                qualified_at=now,
                hot=hot,
            )
        )

    def lose(
        self,
        agent_id: str,
        reason_code: LostReasonCode | str | None,
        note: str | None,
        now: datetime,
        policy: Policy,
        *,
        as_manager: bool = False,
    ) -> None:
        """Write the lead off with a code from the closed list (free text only beside one).

        The code must be one a lead in first contact can have (`_require_grounds`). These rules
        bind managers too: they are the dealership's, and a manager who knows better picks the
        code that says why.
        """
        now = as_utc(now, "now")
        self._require_not_closed()
        note = _clean(note)
        if not reason_code:
            if note:
                raise Refused(REASON_NOTE_WITHOUT_CODE, "a note needs a reason code beside it")
            raise Refused(REASON_REQUIRED, "choose a reason code")
        try:
            code = LostReasonCode(reason_code)
        except ValueError:
            raise Refused(
                REASON_UNKNOWN, f"{reason_code!r} is not in the list of lost reasons"
            ) from None
        self._require_lease(agent_id, now, as_manager)
        self._require_grounds(code, policy)
        if code is LostReasonCode.NO_INTEREST_DO_NOT_CONTACT:
            self.do_not_contact = True
        self._close("lost", code.value, agent_id, now)
        self.events.append(
            Lost(
                **self._event_ids(),
                reason_code=code,
                category=category_of(code),
                note=note,
                agent_id=agent_id,
                attempts=len(self.human_attempts),
                lost_at=now,
                do_not_contact=self.do_not_contact,
                min_attempts=policy.min_attempts,
            )
        )

    def breach_sla(self, now: datetime) -> bool:
        """Publish the SLA breach once and escalate to the dealership's managers.

        Only an open, never-attempted, contactable task past its due time breaches; a repeated
        timer, or one firing after the first attempt, changes nothing.
        """
        now = as_utc(now, "now")
        if (
            self.state != "open"
            or self.human_attempts
            or self.do_not_contact
            or self.sla_breached_at is not None
            or now < self.sla_due_at
        ):
            return False
        self.sla_breached_at = now
        self.escalated_at = now
        self.events.append(
            SlaBreached(
                **self._event_ids(), task_id=self.task_id, due_at=self.sla_due_at, breached_at=now
            )
        )
        return True

    def expire_from_pool(self, now: datetime, min_attempts: int | None = None) -> bool:
        """The pool period ran out with the customer never reached: close as not reached.

        The pool is not a dead end: crm-queue closes the lead itself (`closed_by` SYSTEM, no
        agent, `automatic` on the event) so recovery can take it over. False (nothing changed)
        for a task that left the pool, or before `pool_until`.
        """
        now = as_utc(now, "now")
        if self.state != "pool" or self.pool_until is None or now < self.pool_until:
            return False
        code = LostReasonCode.NOT_REACHED_MAX_ATTEMPTS
        self._close("lost", code.value, SYSTEM, now)
        self.events.append(
            Lost(
                **self._event_ids(),
                reason_code=code,
                category=category_of(code),
                note=None,
                agent_id=None,
                attempts=len(self.human_attempts),
                lost_at=now,
                do_not_contact=self.do_not_contact,
                automatic=True,
                min_attempts=min_attempts,
            )
        )
        return True

    # -- the queue ----------------------------------------------------------------------------

    def due_at(self) -> datetime | None:
        """When the next contact is due: the SLA before the first attempt, then the cadence."""
        if self.state != "open" or self.do_not_contact:
            return None
        return self.next_attempt_due_at if self.human_attempts else self.sla_due_at

    def is_overdue(self, now: datetime) -> bool:
        due = self.due_at()
        return due is not None and as_utc(now, "now") >= due

    def is_awaiting_reply(self) -> bool:
        """The customer is waiting on us: never contacted, or asked again since our last try."""
        if self.state != "open" or self.do_not_contact:
            return False
        last = self.last_attempt_at
        return last is None or (
            self.last_enquiry_at > last and self.next_attempt_due_at is not None
        )

    def urgency_key(self, now: datetime) -> tuple[int, datetime, float, str]:
        """Sort key of the work queue, most urgent first.

        Groups: 0 customers waiting on us (new leads by SLA due time, then leads that asked
        again); 1 follow-ups due by now; 2 follow-ups due later; 3 open with nothing scheduled
        (reached, awaiting the agent's decision, or not contactable); 4 pool; 5 closed. New
        leads come before due follow-ups because a lead's value falls fastest in its first hour.
        Within a group: earlier due time first, then the most recent enquiry (a fresh interest
        is the warmest), then the lead id so the order is stable.
        """
        now = as_utc(now, "now")
        due = self.due_at()
        if self.is_closed:
            group = 5
        elif self.state == "pool":
            group = 4
        elif due is None:
            group = 3
        elif self.is_awaiting_reply():
            group = 0
        else:
            group = 1 if due <= now else 2
        moment = due or self.closed_at or self.last_enquiry_at
        return (group, moment, -self.last_enquiry_at.timestamp(), str(self.lead_id))

    # -- internals ----------------------------------------------------------------------------

    def _event_ids(self) -> dict[str, Any]:
        """The envelope identity of the next event, and its sequence number."""
        self.sequence += 1
        return {
            "lead_id": self.lead_id,
            "tenant_id": self.tenant_id,
            "dealership_id": self.dealership_id,
            "sequence": self.sequence,
        }

    def _held_message(self, holder: str) -> str:
        until = self.lease_until.isoformat() if self.lease_until else "?"
        return f"agent {holder} is working this lead (lease until {until})"

    def _require_not_closed(self) -> None:
        if self.is_closed:
            raise Refused(TASK_CLOSED, f"the task is already {self.state} ({self.outcome})")

    def _require_contactable(self) -> None:
        if self.do_not_contact:
            raise Refused(DO_NOT_CONTACT, "the person asked not to be contacted")

    def _require_grounds(self, code: LostReasonCode, policy: Policy) -> None:
        """Persistence cannot be bypassed by the choice of code (the module docstring's rules)."""
        category = category_of(code)
        if category is LostReasonCategory.PROSPECT:
            raise Refused(
                REASON_NOT_FOR_LEADS,
                f"{code.value} is for prospects (after qualifying), not leads in first contact",
            )
        said_by_customer = (
            category in _SAID_BY_CUSTOMER or code is LostReasonCode.NOT_REACHED_REFUSED_CALL
        )
        # A person already known not to want contact can be closed as such: nobody may call.
        known = code is LostReasonCode.NO_INTEREST_DO_NOT_CONTACT and self.do_not_contact
        if said_by_customer and not self.was_reached and not known:
            raise Refused(
                REASON_NEEDS_CONTACT,
                f"{code.value} needs an attempt in which the customer was reached",
            )
        if category is LostReasonCategory.NOT_REACHED:
            shortfall = persistence_shortfall(
                policy,
                [a.at for a in self.human_attempts],
                len(self.channels_used()),
                channels_allowed=len(CHANNELS) - len(self.no_consent_channels),
            )
            if shortfall is not None:
                raise Refused(*shortfall)

    def _require_lease(self, agent_id: str, now: datetime, as_manager: bool) -> None:
        if as_manager:
            return
        holder = self.lease_holder(now)
        if holder is None:
            raise Refused(LEASE_REQUIRED, f"agent {agent_id} must claim the task first")
        if holder != agent_id:
            raise Refused(LEASE_HELD_BY_OTHER, self._held_message(holder))

    def _schedule_after(self, outcome: ContactOutcome, now: datetime, policy: Policy) -> None:
        if outcome == "reached":
            self.next_attempt_due_at = None
            if self.state == "pool":
                self._leave_pool()
            return
        if self.state == "pool":
            return  # the pool has no cadence: a re-enquiry or a closing ends it
        if not self.usable_channels():
            self.next_attempt_due_at = None
            return
        step = next_step(policy, self.round, self.round_gaps_used, now)
        self.round, self.round_gaps_used = step.round, step.gaps_used
        self.next_attempt_due_at = step.due_at
        if step.due_at is None:
            self.state = "pool"
            self.pool_until = now + policy.pool_period

    def _leave_pool(self) -> None:
        self.state = "open"
        self.pool_until = None

    def _clear_lease(self) -> None:
        self.leased_by = None
        self.lease_until = None

    def _close(self, state: State, outcome: str, agent_id: str, now: datetime) -> None:
        self.state = state
        self.outcome = outcome
        self.closed_by = agent_id
        self.closed_at = now
        self.next_attempt_due_at = None
        self._clear_lease()

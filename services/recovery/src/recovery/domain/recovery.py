"""One recovery run: the follow-up of one loss of a lead or a prospect, step by step.

States: `scheduled` (the next step is due at `due_at`), `due` (the step is open: in the CRM
department's due list, or sent at once when its channel is email), `ended` (`outcome` says how).
`fire_at` is when the scanner must next look at the run: the due time of a scheduled step, the
expiry of an open one (when the next step falls due, or 30 days after the last one opened), none
once ended. An open step nobody worked by then is passed over and the next one opens.

Step k falls due `cadence[k-1]` days after `starts_at` (the loss, or the date a postponed
purchase was put off to). The channel is chosen when a step is scheduled and again when it
opens: a call while the phone works and the person did not refuse it, else an SMS, else an
email (sent automatically: `recovery.attempted` with outcome `sent`); none left ends the run.

Refusals (`Refused.rule`): `recovery.ended`, `lease.held_by_other`, `lease.required` (409);
`outcome.details_required` (422).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from recovery.domain.cadence import Cadences, Days
from recovery.domain.events import (
    Attempted,
    BoughtElsewhere,
    Dead,
    DomainEvent,
    Ended,
    Reactivated,
    Scheduled,
)
from shared.contracts.lost_reasons import LostReasonCode, RecoverPolicy, lost_reason

State = Literal["scheduled", "due", "ended"]
PHONE_CHANNELS = frozenset({"call", "sms", "whatsapp"})
# An open last step stays in the due list this long before the cadence counts as run out.
LAST_STEP_OPEN = timedelta(days=30)
# After a conversation, the next step is never sooner than this (a late worked step).
MIN_GAP = timedelta(days=1)

Outcome = Literal[
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
OUTCOMES: tuple[str, ...] = Outcome.__args__  # type: ignore[attr-defined]


class Refused(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class Loss:
    """What a `lead.lost` or `prospect.lost` says, as recovery needs it."""

    recovery_id: UUID
    tenant_id: str
    dealership_id: str | None
    lead_id: UUID
    origin: Literal["lead", "prospect"]
    reason_code: LostReasonCode
    lost_at: datetime
    starts_at: datetime
    do_not_contact: bool = False
    person: dict[str, Any] = field(default_factory=dict)
    email_key: str | None = None
    phone_key: str | None = None
    consent: dict[str, Any] = field(default_factory=dict)
    enquiries: list[dict[str, Any]] = field(default_factory=list)
    language: str | None = None
    consultant_id: str | None = None
    unusable_channels: frozenset[str] = frozenset()
    reached: bool | None = None


@dataclass(frozen=True)
class OutcomeDetails:
    reason_code: LostReasonCode | None = None  # still_lost: the reason as it stands now
    same_brand: bool | None = None  # bought_elsewhere
    brand: str | None = None
    dealer: str | None = None


@dataclass(kw_only=True)
class Recovery:
    recovery_id: UUID
    tenant_id: str
    dealership_id: str | None
    lead_id: UUID
    origin: Literal["lead", "prospect"]
    reason_code: LostReasonCode
    lost_at: datetime
    starts_at: datetime
    cadence: Days
    email_only: bool = False
    state: State = "scheduled"
    step: int = 0
    steps_opened: int = 0
    due_at: datetime | None = None
    channel: str | None = None
    fire_at: datetime | None = None
    outcome: str | None = None
    ended_at: datetime | None = None
    returned_lead_id: UUID | None = None
    person: dict[str, Any] = field(default_factory=dict)
    email_key: str | None = None
    phone_key: str | None = None
    consent: dict[str, Any] = field(default_factory=dict)
    enquiries: list[dict[str, Any]] = field(default_factory=list)
    language: str | None = None
    consultant_id: str | None = None
    unusable_channels: frozenset[str] = frozenset()
    reached: bool | None = None
    leased_by: str | None = None
    lease_until: datetime | None = None
    scrubbed_at: datetime | None = None
    sequence: int = 0
    events: list[DomainEvent] = field(default_factory=list)

    # -- starting -----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        loss: Loss,
        cadences: Cadences,
        now: datetime,
        *,
        sequence: int = 0,
        erased: bool = False,
        blocked: bool = False,
        returned_to: UUID | None = None,
    ) -> Recovery:
        """The run of a loss: its first step scheduled, or ended at once when the lead was
        erased, the person must not be contacted (`blocked`: asked so on another lead), the
        reason is not followed up (`lead.dead` says why), or the person already asked again
        (`returned_to`: their new lead)."""
        policy = lost_reason(loss.reason_code).recover
        r = cls(
            recovery_id=loss.recovery_id,
            tenant_id=loss.tenant_id,
            dealership_id=loss.dealership_id,
            lead_id=loss.lead_id,
            origin=loss.origin,
            reason_code=loss.reason_code,
            lost_at=loss.lost_at,
            starts_at=loss.starts_at,
            cadence=cadences.for_reason(loss.reason_code),
            email_only=policy is RecoverPolicy.EMAIL_ONLY,
            person=dict(loss.person),
            email_key=loss.email_key,
            phone_key=loss.phone_key,
            consent=dict(loss.consent),
            enquiries=list(loss.enquiries),
            language=loss.language,
            consultant_id=loss.consultant_id,
            unusable_channels=loss.unusable_channels,
            reached=loss.reached,
            sequence=sequence,
        )
        if erased:
            r.stop("erased", now)
        elif loss.do_not_contact or blocked or policy is RecoverPolicy.NEVER:
            r.stop("do_not_contact", now)
        elif policy is RecoverPolicy.NO:
            r._end("not_recoverable", now, dead="not_recoverable")
        elif returned_to is not None:
            r.returned(returned_to, now)
        else:
            r._schedule(1, now, not_before=now)
        return r

    # -- reading ------------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.state != "ended"

    def lease_holder(self, now: datetime) -> str | None:
        if self.lease_until is not None and now < self.lease_until:
            return self.leased_by
        return None

    def choose_channel(self) -> str | None:
        """The channel of the next step, or None when no channel may be used."""
        if not self.person:
            # Who it is comes later (lead.ingested) or from the lead itself: the usual channel.
            return "email" if self.email_only else "call"
        usable = [c for c in ("call", "sms") if self._may_use(c)] if not self.email_only else []
        if self._may_use("email"):
            usable.append("email")
        return usable[0] if usable else None

    def _may_use(self, channel: str) -> bool:
        if channel in self.unusable_channels:
            return False
        consent_of = {"call": "phone", "sms": "sms", "email": "email"}[channel]
        if self.consent.get(consent_of) is False:
            return False
        if channel == "email":
            return bool(self.person.get("email"))
        return bool(self.person.get("phone") or self.person.get("other_phones"))

    def pull_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events

    # -- the scanner --------------------------------------------------------------------------

    def fire(self, now: datetime) -> bool:
        """What the scanner does at `fire_at`: open the due step, or pass over an open step
        nobody worked and open the next. False if there was nothing to do (yet)."""
        if self.fire_at is None or self.fire_at > now or not self.is_active:
            return False
        if self.state == "due":
            self._schedule(self.step + 1, now, not_before=now)
        if self.state == "scheduled" and self.due_at is not None and self.due_at <= now:
            self._open(now)
        return True

    def _open(self, now: datetime) -> None:
        channel = self.choose_channel()
        if channel is None:
            self._end("no_channel", now, dead="no_usable_channel")
            return
        self.channel = channel
        self.steps_opened += 1
        if channel == "email":
            # Sent by marketing automation on this event; nobody has to work it.
            self._attempted(self.step, "email", "sent", None, None, now)
            self._schedule(self.step + 1, now, not_before=now + MIN_GAP)
            return
        self.state = "due"
        self.leased_by = self.lease_until = None
        # Open until the next step falls due; a late run (a loss that arrived long after it
        # happened) still gets a day before its step is passed over.
        self.fire_at = max(self._due_time(self.step + 1) or now + LAST_STEP_OPEN, now + MIN_GAP)

    # -- the CRM department -------------------------------------------------------------------

    def claim(self, agent_id: str, now: datetime, lease: timedelta) -> None:
        self._require_active()
        holder = self.lease_holder(now)
        if holder is not None and holder != agent_id:
            raise Refused("lease.held_by_other", f"{holder} is working this follow-up")
        self.leased_by = agent_id
        self.lease_until = now + lease

    def record(
        self,
        agent_id: str,
        outcome: Outcome,
        now: datetime,
        cadences: Cadences,
        *,
        channel: str | None = None,
        note: str | None = None,
        details: OutcomeDetails = OutcomeDetails(),
        as_manager: bool = False,
    ) -> None:
        """The outcome of a conversation (or of trying to have one)."""
        self._require_active()
        if not as_manager:
            holder = self.lease_holder(now)
            if holder is None:
                raise Refused("lease.required", "claim the follow-up first")
            if holder != agent_id:
                raise Refused("lease.held_by_other", f"{holder} is working this follow-up")
        if outcome == "bought_elsewhere" and details.same_brand is None:
            raise Refused("outcome.details_required", "bought_elsewhere: say same_brand")
        step = max(self.step, 1)
        self._attempted(step, channel or self.channel or "call", outcome, agent_id, note, now)
        if outcome in ("reactivated", "still_lost", "bought_elsewhere", "dead", "do_not_contact"):
            self.reached = True
        if outcome == "reactivated":
            self._reactivated(agent_id, note, now)
        elif outcome == "bought_elsewhere":
            self._bought_elsewhere(details, now)
        elif outcome == "dead":
            self._end("dead", now, dead="marked_dead")
        elif outcome == "do_not_contact":
            self.stop("do_not_contact", now)
        else:
            if outcome == "wrong_number":
                self.unusable_channels = self.unusable_channels | PHONE_CHANNELS
            elif outcome == "bounced":
                self.unusable_channels = self.unusable_channels | {"email"}
            code = details.reason_code if outcome == "still_lost" else None
            if code is not None and self._new_reason(code, cadences, now):
                return
            self._schedule(step + 1, now, not_before=now + MIN_GAP)

    def _new_reason(self, code: LostReasonCode, cadences: Cadences, now: datetime) -> bool:
        """Follow the reason as it stands now; True when it ends the run."""
        self.reason_code = code
        policy = lost_reason(code).recover
        if policy is RecoverPolicy.NEVER:
            self.stop("do_not_contact", now)
            return True
        if policy is RecoverPolicy.NO:
            self._end("not_recoverable", now, dead="not_recoverable")
            return True
        self.email_only = policy is RecoverPolicy.EMAIL_ONLY
        self.cadence = cadences.for_reason(code)
        return False

    def _reactivated(self, agent_id: str, note: str | None, now: datetime) -> None:
        first = self.enquiries[0] if self.enquiries else {}
        self.events.append(
            Reactivated(
                **self._ids(),
                origin=self.origin,
                previous_reason_code=self.reason_code.value,
                reactivated_at=now,
                hot=True,
                note=note,
                person=self.person or None,
                enquiries=self.enquiries,
                vehicle=first.get("vehicle"),
                consent=self.consent or None,
                language=self.language,
                consultant_id=self.consultant_id,
                agent_id=agent_id,
            )
        )
        self._end("reactivated", now)

    def _bought_elsewhere(self, details: OutcomeDetails, now: datetime) -> None:
        assert details.same_brand is not None
        code = (
            LostReasonCode.BOUGHT_ELSEWHERE_SAME_BRAND
            if details.same_brand
            else LostReasonCode.BOUGHT_ELSEWHERE_OTHER_BRAND
        )
        self.reason_code = code
        self.events.append(
            BoughtElsewhere(
                **self._ids(),
                same_brand=details.same_brand,
                brand=details.brand,
                recorded_at=now,
                reason_code=code.value,
                action=lost_reason(code).action,
                dealer=details.dealer,
                origin=self.origin,
            )
        )
        self._end("bought_elsewhere", now)

    # -- the person ---------------------------------------------------------------------------

    def learn_contact(
        self, consent: dict[str, Any], email_key: str | None, phone_key: str | None
    ) -> None:
        """The lead's own `lead.ingested` (it may come after the loss): consent and keys."""
        if self.scrubbed_at is not None:
            return
        self.consent = {**consent, **self.consent}
        self.email_key = self.email_key or email_key
        self.phone_key = self.phone_key or phone_key

    def returned(self, lead_id: UUID, now: datetime) -> bool:
        """The person came back by themselves (a new enquiry): the cadence ends at once."""
        if not self.is_active:
            return False
        self.returned_lead_id = lead_id
        self._end("returned", now)
        return True

    def stop(self, why: Literal["do_not_contact", "erased"], now: datetime) -> None:
        """Consent wins: no more steps, and nothing kept of who the person is."""
        if self.is_active:
            self._end(why, now, dead=why)
        self.scrub(now)

    def supersede(self, now: datetime) -> None:
        """A newer loss of the same lead starts its own run."""
        if self.is_active:
            self._end("superseded", now)

    def scrub(self, now: datetime) -> None:
        self.person = {}
        self.email_key = self.phone_key = None
        self.consent = {}
        self.enquiries = [{k: v for k, v in e.items() if k != "comments"} for e in self.enquiries]
        self.scrubbed_at = self.scrubbed_at or now

    # -- internals ----------------------------------------------------------------------------

    def _due_time(self, step: int) -> datetime | None:
        if step > len(self.cadence):
            return None
        return self.starts_at + timedelta(days=self.cadence[step - 1])

    def _schedule(self, step: int, now: datetime, *, not_before: datetime) -> None:
        due = self._due_time(step)
        if due is None:
            self._end("exhausted", now, dead="cadence_exhausted")
            return
        channel = self.choose_channel()
        if channel is None:
            self._end("no_channel", now, dead="no_usable_channel")
            return
        self.state = "scheduled"
        self.step = step
        self.due_at = max(due, not_before)
        self.fire_at = self.due_at
        self.channel = channel
        self.leased_by = self.lease_until = None
        self.events.append(
            Scheduled(
                **self._ids(),
                step=step,
                due_at=self.due_at,
                channel=channel,
                origin=self.origin,
                reason_code=self.reason_code.value,
            )
        )

    def _attempted(
        self,
        step: int,
        channel: str,
        outcome: str,
        agent_id: str | None,
        note: str | None,
        now: datetime,
    ) -> None:
        self.events.append(
            Attempted(
                **self._ids(),
                step=step,
                channel=channel,
                outcome=outcome,
                agent_id=agent_id,
                note=note,
                attempted_at=now,
            )
        )

    def _end(self, outcome: str, now: datetime, *, dead: str | None = None) -> None:
        self.state = "ended"
        self.outcome = outcome
        self.ended_at = now
        self.due_at = self.fire_at = None
        self.leased_by = self.lease_until = None
        if dead is not None:
            self.events.append(Dead(**self._ids(), reason=dead, dead_at=now))
        self.events.append(
            Ended(
                **self._ids(),
                origin=self.origin,
                reason_code=self.reason_code.value,
                outcome=outcome,
                steps=self.steps_opened,
                ended_at=now,
                returned_lead_id=self.returned_lead_id,
            )
        )

    def _require_active(self) -> None:
        if not self.is_active:
            raise Refused("recovery.ended", f"the follow-up ended ({self.outcome})")

    def _ids(self) -> dict[str, Any]:
        self.sequence += 1
        return {
            "lead_id": self.lead_id,
            "tenant_id": self.tenant_id,
            "dealership_id": self.dealership_id,
            "sequence": self.sequence,
            "recovery_id": self.recovery_id,
        }

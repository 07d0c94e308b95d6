"""A prospect: one qualified (or reactivated) lead, exactly one consultant at a time.

States: `unassigned` (waiting for an eligible consultant, visible to managers), `up_for_grabs`
(offered to a pool, first to claim wins), `open` (a consultant owns it), `won`, `lost`.
A lost prospect that recovery reactivates opens again, hot.

Events of one lead arrive in any order: `lead.reactivated` may come before `lead.qualified`.
Whichever comes first creates the prospect; `lead.qualified` only ever adds the lead's facts,
and a reactivation older than the last one applied changes nothing. Every method takes `now`
from the caller.

Refusals (`Refused.rule`): `prospect.closed`, `prospect.not_open`, `prospect.not_yours`,
`prospect.same_consultant`, `lost.reason_unknown`, `lost.details_required`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from assignment.domain.consultant import Needs, condition_of
from assignment.domain.events import Assigned, DomainEvent, Escalated, Lost, Reassigned, Won
from assignment.domain.rules import RoutingFacts
from shared.contracts.lost_reasons import LostReasonCategory, LostReasonCode, category_of

State = Literal["unassigned", "up_for_grabs", "open", "won", "lost"]
OPEN_STATES: frozenset[str] = frozenset({"unassigned", "up_for_grabs", "open"})
ACTIVITY_KINDS = ("call", "email", "appointment", "test_drive", "quote", "note")
# The person's own new enquiry (intake's lead.duplicate with stage prospect), not a consultant's.
ENQUIRY = "enquiry"


class Refused(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class LossDetails:
    competitor_brand: str | None = None
    competitor_dealer: str | None = None
    postponed_until: date | None = None


def check_loss(code: str, details: LossDetails, today: date) -> LostReasonCode:
    """The code from the closed list, with the details its category needs."""
    try:
        reason = LostReasonCode(code)
    except ValueError:
        known = "is not in the list of lost reasons"
        raise Refused("lost.reason_unknown", f"{code!r} {known}") from None
    if category_of(reason) is LostReasonCategory.BOUGHT_ELSEWHERE and not details.competitor_dealer:
        raise Refused("lost.details_required", f"{reason}: name the dealer (competitor_dealer)")
    if reason is LostReasonCode.BOUGHT_ELSEWHERE_OTHER_BRAND and not details.competitor_brand:
        raise Refused("lost.details_required", f"{reason}: name the brand (competitor_brand)")
    if reason is LostReasonCode.PROSPECT_POSTPONED:
        if details.postponed_until is None:
            raise Refused("lost.details_required", f"{reason}: give the date (postponed_until)")
        if details.postponed_until < today:
            raise Refused("lost.details_required", "postponed_until is in the past")
    return reason


@dataclass(kw_only=True)
class Prospect:
    lead_id: UUID
    tenant_id: str
    dealership_id: str
    state: State = "unassigned"
    consultant_id: str | None = None  # the owner; after a close, who closed it
    hot: bool = False
    reactivated: bool = False
    qualified: bool = False  # lead.qualified seen: the facts below are known
    person: dict[str, Any] = field(default_factory=dict)
    enquiries: list[dict[str, Any]] = field(default_factory=list)
    appointment: dict[str, Any] | None = None
    language: str | None = None
    outcome: str | None = None
    qualified_at: datetime | None = None
    reactivated_at: datetime | None = None
    reason: str | None = None  # why the current consultant (code)
    reason_detail: str | None = None  # ... in a sentence for managers
    rule: str | None = None
    rule_version: int | None = None
    method: str | None = None
    assigned_at: datetime | None = None
    respond_by: datetime | None = None
    acted_at: datetime | None = None
    escalated_at: datetime | None = None
    next_follow_up_at: datetime | None = None
    # The person's latest new enquiry of this open spell that the owner has not acted on since.
    enquired_at: datetime | None = None
    waiting_since: datetime | None = None
    passed_over: list[str] = field(default_factory=list)  # left it untouched: not again
    do_not_contact: bool = False
    erased_at: datetime | None = None
    closed_at: datetime | None = None
    close_details: dict[str, Any] | None = None
    sequence: int = 0
    events: list[DomainEvent] = field(default_factory=list)

    # -- reading ------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def first_enquiry(self) -> dict[str, Any]:
        return self.enquiries[0] if self.enquiries else {}

    def needs(self) -> Needs:
        vehicle = self.first_enquiry.get("vehicle") or {}
        make = vehicle.get("make")
        language = (self.language or "").split("-")[0].casefold() or None
        return Needs(
            make=make.casefold() if make else None,
            condition=condition_of(vehicle.get("condition")),
            language=language,
        )

    def routing_facts(self) -> RoutingFacts:
        first = self.first_enquiry
        needs = self.needs()
        return RoutingFacts(
            source_id=first.get("source_id"),
            source_kind=first.get("source_kind"),
            campaign=first.get("campaign"),
            make=needs.make,
            condition=needs.condition,
            hot=self.hot,
        )

    def acted_since_assigned(self) -> bool:
        return (
            self.acted_at is not None
            and self.assigned_at is not None
            and self.acted_at >= self.assigned_at
        )

    def pull_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events

    # -- what arrives from the funnel ---------------------------------------------------------

    def learn(
        self,
        *,
        person: dict[str, Any],
        enquiries: list[dict[str, Any]],
        appointment: dict[str, Any] | None,
        language: str | None,
        outcome: str,
        qualified_at: datetime,
        hot: bool,
    ) -> None:
        """The lead's facts from `lead.qualified` (first or after a reactivation)."""
        if self.erased_at is None:
            self.person = person
            self.enquiries = enquiries
        self.appointment = appointment
        self.language = language
        self.outcome = outcome
        self.qualified_at = qualified_at
        self.hot = self.hot or hot
        self.qualified = True

    def learn_returning(
        self,
        *,
        person: dict[str, Any],
        enquiries: list[dict[str, Any]],
        language: str | None,
    ) -> None:
        """The facts `lead.reactivated` carries, for a prospect whose `lead.qualified` is not
        here (a lead lost before qualification, or the events out of order): it is routed and
        worked with them. Facts from `lead.qualified` win whatever the order."""
        if self.qualified:
            return
        if self.erased_at is None:
            self.person = person or self.person
            self.enquiries = enquiries or self.enquiries
        self.language = language or self.language

    def reactivate(self, at: datetime, hot: bool) -> bool:
        """Recovery brought the person back. True when the prospect must be (re)allocated:
        it was lost before `at`. A won prospect, or a reactivation not newer than the last
        applied, changes nothing."""
        if self.state == "won" or (self.reactivated_at is not None and at <= self.reactivated_at):
            return False
        self.reactivated = True
        self.reactivated_at = at
        self.hot = self.hot or hot
        if self.state == "lost" and (self.closed_at is None or self.closed_at < at):
            self.state = "unassigned"
            self.closed_at = None
            self.close_details = None
            self.passed_over = []
            self.waiting_since = at
            self.enquired_at = None  # a new spell: the enquiries made in it are heard again
            return True
        return self.state != "open"

    def hear_enquiry(self, at: datetime) -> bool:
        """The person asked again at `at` (an enquiry intake merged into this prospect): their
        consultant must answer. Only while the prospect is open, and for an enquiry made in
        its current open spell (not before a reactivation: that one came before the loss, or
        became a lead of its own). The prospect shows the latest such enquiry (`enquired_at`,
        which puts it first among the consultant's prospects after the hot ones) until its
        owner logs an activity after it. The same enquiries in any order, or again, give the
        same prospect. True if it changed the prospect."""
        if not self.is_open or (self.reactivated_at is not None and at < self.reactivated_at):
            return False
        if self.enquired_at is not None and at <= self.enquired_at:
            return False
        if self.acted_at is not None and self.acted_at >= at:
            return False  # the owner acted after it came (it reached us late): answered
        self.enquired_at = at
        return True

    # -- allocation ---------------------------------------------------------------------------

    def assign(
        self,
        consultant_id: str,
        now: datetime,
        *,
        reason: str,
        respond_by: datetime,
        detail: str | None = None,
        rule: str | None = None,
        rule_version: int | None = None,
        method: str | None = None,
    ) -> None:
        """Give the prospect to `consultant_id`: `prospect.assigned` the first time (or after
        waiting), `prospect.reassigned` when it moves from one consultant to another."""
        if not self.is_open:
            raise Refused("prospect.closed", f"the prospect is already {self.state}")
        previous = self.consultant_id if self.state == "open" else None
        if previous == consultant_id:
            raise Refused("prospect.same_consultant", f"{consultant_id} already has it")
        self.state = "open"
        self.consultant_id = consultant_id
        self.assigned_at = now
        self.respond_by = respond_by
        self.escalated_at = None
        self.waiting_since = None
        self.reason, self.reason_detail = reason, detail
        self.rule, self.rule_version, self.method = rule, rule_version, method
        if previous is None:
            self.events.append(
                Assigned(
                    **self._ids(),
                    consultant_id=consultant_id,
                    hot=self.hot,
                    reason=reason,
                    respond_by=respond_by,
                    assigned_at=now,
                    rule=rule,
                    rule_version=rule_version,
                    method=method,
                )
            )
        else:
            self.events.append(
                Reassigned(
                    **self._ids(),
                    from_consultant_id=previous,
                    to_consultant_id=consultant_id,
                    reason=reason,
                    reassigned_at=now,
                    hot=self.hot,
                    respond_by=respond_by,
                )
            )

    def wait(self, now: datetime, detail: str) -> None:
        """Nobody is eligible: the prospect waits in the unassigned queue."""
        self.state = "unassigned"
        self.waiting_since = self.waiting_since or now
        self.reason, self.reason_detail = "waiting", detail

    def offer(self, now: datetime, rule: str | None, rule_version: int | None) -> None:
        """Up for grabs: the pool sees it, the first eligible consultant to claim it gets it."""
        self.state = "up_for_grabs"
        self.waiting_since = self.waiting_since or now
        self.reason, self.reason_detail = "up_for_grabs", "offered to the pool"
        self.rule, self.rule_version, self.method = rule, rule_version, "up_for_grabs"

    def escalate(self, now: datetime, reason: str = "sla_missed") -> bool:
        """The SLA passed with no action: alert the managers (once per assignment, so a
        redelivered timer records no second `prospect.escalated`)."""
        if self.state != "open" or self.acted_since_assigned() or self.escalated_at is not None:
            return False
        assert self.consultant_id is not None  # open: someone owns it
        self.escalated_at = now
        self.events.append(
            Escalated(
                **self._ids(),
                consultant_id=self.consultant_id,
                hot=self.hot,
                reason=reason,
                sla_due_at=self.respond_by,
                escalated_at=now,
            )
        )
        return True

    # -- the consultant's work ----------------------------------------------------------------

    def require_owner(self, consultant_id: str, as_manager: bool) -> None:
        if self.state in ("won", "lost"):
            raise Refused("prospect.closed", f"the prospect is already {self.state}")
        if self.state != "open":
            raise Refused("prospect.not_open", f"the prospect is {self.state}: nobody owns it")
        if not as_manager and self.consultant_id != consultant_id:
            raise Refused("prospect.not_yours", "another consultant owns this prospect")

    def record_activity(
        self,
        consultant_id: str,
        at: datetime,
        next_follow_up_at: datetime | None,
        *,
        as_manager: bool = False,
    ) -> None:
        self.require_owner(consultant_id, as_manager)
        if not as_manager:
            self.acted_at = max(self.acted_at or at, at)
            if self.enquired_at is not None and at >= self.enquired_at:
                self.enquired_at = None  # the owner acted after the person asked: answered
        if next_follow_up_at is not None:
            self.next_follow_up_at = next_follow_up_at

    def win(
        self,
        by: str,
        now: datetime,
        *,
        vehicle: dict[str, Any] | None,
        amount: Decimal | None,
        currency: str | None,
        as_manager: bool = False,
    ) -> None:
        self.require_owner(by, as_manager)
        owner = self.consultant_id
        assert owner is not None
        self._close("won", now, {"vehicle": vehicle, "amount": amount, "currency": currency})
        self.events.append(
            Won(
                **self._ids(),
                consultant_id=owner,
                won_at=now,
                vehicle=vehicle,
                amount=amount,
                currency=currency,
                reactivated=self.reactivated,
            )
        )

    def lose(
        self,
        by: str,
        now: datetime,
        *,
        reason_code: str,
        note: str | None,
        details: LossDetails,
        as_manager: bool = False,
    ) -> None:
        self.require_owner(by, as_manager)
        code = check_loss(reason_code, details, now.date())
        owner = self.consultant_id
        assert owner is not None
        if code is LostReasonCode.NO_INTEREST_DO_NOT_CONTACT:
            self.do_not_contact = True
        self._close(
            "lost",
            now,
            {
                "reason_code": code.value,
                "note": note,
                "competitor_brand": details.competitor_brand,
                "competitor_dealer": details.competitor_dealer,
                "postponed_until": details.postponed_until,
            },
        )
        self.events.append(
            Lost(
                **self._ids(),
                consultant_id=owner,
                reason_code=code.value,
                category=category_of(code).value,
                note=note,
                lost_at=now,
                competitor_brand=details.competitor_brand,
                competitor_dealer=details.competitor_dealer,
                postponed_until=details.postponed_until,
                do_not_contact=self.do_not_contact,
            )
        )

    # -- consent ------------------------------------------------------------------------------

    def erase(self, now: datetime) -> None:
        """The person asked to be erased: keep the prospect's numbers, drop who they are."""
        self.person = {}
        self.enquiries = [
            {k: v for k, v in e.items() if k not in ("comments",)} for e in self.enquiries
        ]
        self.do_not_contact = True
        self.erased_at = self.erased_at or now
        if self.close_details and "note" in self.close_details:
            self.close_details = {**self.close_details, "note": None}

    def end_contact(self) -> bool:
        """Recovery declared the lead dead (lead.dead): no more contact, ever. The prospect
        keeps its state (normally lost already; no event of ours, so recovery does not start
        again) and shows do-not-contact, with no follow-up planned. True if that changed it."""
        if self.do_not_contact and self.next_follow_up_at is None:
            return False
        self.do_not_contact = True
        self.next_follow_up_at = None
        return True

    # -- internals ----------------------------------------------------------------------------

    def _close(self, state: State, now: datetime, details: dict[str, Any]) -> None:
        self.state = state
        self.closed_at = now
        self.close_details = details
        self.next_follow_up_at = None
        self.enquired_at = None

    def _ids(self) -> dict[str, Any]:
        self.sequence += 1
        return {
            "lead_id": self.lead_id,
            "tenant_id": self.tenant_id,
            "dealership_id": self.dealership_id,
            "sequence": self.sequence,
        }

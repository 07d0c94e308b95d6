"""assignment's handlers: events from the funnel, timers, and the commands of managers and
consultants.

Each runs in one unit of work: the prospect, its owner, its timers and the outbox events commit
together. Anything that can change who owns what in a dealership takes the dealership's lock
first (see `AssignmentRepository`). Consumers claim the event id in the inbox first, so a
redelivery is a no-op.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from assignment.domain.consultant import Consultant
from assignment.domain.prospect import LossDetails, Prospect, Refused
from assignment.domain.rules import Routing
from assignment.service_layer import allocation, enquiries, events
from assignment.service_layer.unit_of_work import AssignmentUnitOfWork
from shared import timers
from shared.contracts import Envelope

CONSUMER = "assignment"

TimerHandler = Callable[[AssignmentUnitOfWork, timers.Timer, datetime], Awaitable[None]]


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Actor:
    tenant_id: str
    subject: str
    dealerships: tuple[str, ...] | None  # None: every dealership of the tenant
    is_manager: bool

    def sees(self, dealership_id: str) -> bool:
        return self.dealerships is None or dealership_id in self.dealerships


async def _emit(
    uow: AssignmentUnitOfWork, changed: list[Prospect], cause: Any = None, *, saved: bool = False
) -> None:
    """Save each prospect (unless `saved`: just inserted) and queue its events."""
    for p in changed:
        if not saved:
            await uow.repo.save(p)
        for e in events.collect(p, causation=cause):
            uow.emit(e)


# -- events from the funnel -------------------------------------------------------------------


async def on_lead_qualified(
    uow: AssignmentUnitOfWork, envelope: Envelope[Any], now: datetime
) -> None:
    """A new prospect: learn the lead's facts and give it a consultant (or queue it)."""
    await on_leads_qualified(uow, [envelope], now)


async def on_leads_qualified(
    uow: AssignmentUnitOfWork, envelopes: list[Envelope[Any]], now: datetime
) -> None:
    """A batch of qualified leads (shared.messaging.batch) in one transaction: one inbox claim,
    each dealership's lock and pool taken once (locks all at once, in one order, as
    `on_person_erased` does), one commit. Each lead as `on_lead_qualified` would: the pool
    is loaded under the lock and kept up to date by `allocation.give`, as `drain` does."""
    async with uow:
        fresh = await uow.claim_many(CONSUMER, [e.event_id for e in envelopes])
        todo: list[Envelope[Any]] = []
        for envelope in envelopes:  # a batch may hold one event twice
            if envelope.event_id in fresh:
                fresh.discard(envelope.event_id)
                todo.append(envelope)
        for tenant, dealership in sorted({(e.tenant_id, e.dealership_id or "") for e in todo}):
            await uow.repo.lock_dealership(tenant, dealership)
        heard: dict[tuple[str, UUID], list[datetime]] = {}
        for tenant in sorted({e.tenant_id for e in todo}):
            leads = [e.lead_id for e in todo if e.tenant_id == tenant and e.lead_id is not None]
            for lead, times in (await uow.repo.enquiry_times(tenant, leads)).items():
                heard[(tenant, lead)] = times
        pools: dict[tuple[str, str], allocation.Pool] = {}
        for envelope in todo:
            await _qualified(uow, envelope, now, pools, heard)
        await uow.commit()


async def _qualified(
    uow: AssignmentUnitOfWork,
    envelope: Envelope[Any],
    now: datetime,
    pools: dict[tuple[str, str], allocation.Pool],
    heard: dict[tuple[str, UUID], list[datetime]],
) -> None:
    assert envelope.lead_id is not None and envelope.dealership_id is not None
    tenant, dealership = envelope.tenant_id, envelope.dealership_id
    p = await uow.repo.get(tenant, envelope.lead_id)
    created = p is None
    if p is None:
        p = Prospect(lead_id=envelope.lead_id, tenant_id=tenant, dealership_id=dealership)
    q = envelope.payload
    p.learn(
        person=q.person.model_dump(mode="json") if q.person else {},
        enquiries=[e.model_dump(mode="json") for e in q.enquiries],
        appointment=q.appointment.model_dump(mode="json") if q.appointment else None,
        language=q.language,
        outcome=str(q.outcome),
        qualified_at=q.qualified_at,
        hot=q.hot,
    )
    if await uow.repo.is_erased(tenant, p.lead_id):
        p.erase(now)
    if created:  # the person asked again before this reached us: heard now
        for at in heard.get((tenant, p.lead_id), []):
            p.hear_enquiry(at)
    await _dead_first(uow, p)
    if p.state == "unassigned":
        pool = pools.get((tenant, dealership))
        if pool is None:
            pool = pools[(tenant, dealership)] = await allocation.load_pool(uow, tenant, dealership)
        await allocation.allocate(uow, pool, p, now)
    # A new prospect is inserted as it stands: no update after it.
    saved = created and await uow.repo.add(p)
    await _emit(uow, [p], envelope, saved=saved)


async def on_lead_reactivated(
    uow: AssignmentUnitOfWork, envelope: Envelope[Any], now: datetime
) -> None:
    """Back in the market: a hot prospect, given a consultant at once (its last one, or the
    one the event names, if eligible). It may arrive before the lead's `lead.qualified`, or
    the lead was lost before qualification: the prospect starts with the person, enquiries and
    language the event carries, and a later qualification's facts replace them."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None and envelope.dealership_id is not None
        tenant, dealership = envelope.tenant_id, envelope.dealership_id
        await uow.repo.lock_dealership(tenant, dealership)
        p = await uow.repo.get(tenant, envelope.lead_id)
        created = p is None
        if p is None:
            p = Prospect(lead_id=envelope.lead_id, tenant_id=tenant, dealership_id=dealership)
        r = envelope.payload
        p.learn_returning(
            person=r.person.model_dump(mode="json") if r.person else {},
            enquiries=[e.model_dump(mode="json") for e in r.enquiries],
            language=r.language,
        )
        if p.reactivate(r.reactivated_at, r.hot):
            if await uow.repo.is_erased(tenant, p.lead_id):
                p.erase(now)
            # Enquiries of this new spell that reached us first (or while it was lost).
            for at in (await uow.repo.enquiry_times(tenant, [p.lead_id])).get(p.lead_id, []):
                p.hear_enquiry(at)
            await uow.repo.change_owner(p, None, "reactivated", now)
            pool = await allocation.load_pool(uow, tenant, dealership)
            await allocation.allocate(uow, pool, p, now, former=r.consultant_id)
        await _dead_first(uow, p)
        if created:
            await uow.repo.add(p)
        await _emit(uow, [p], envelope)
        await uow.commit()


async def on_lead_duplicate(
    uow: AssignmentUnitOfWork, envelope: Envelope[Any], now: datetime
) -> None:
    """The person asked again while their lead is an open prospect (stage `prospect`; a
    first-contact repeat is crm-queue's and ignored here): an activity of kind `enquiry` on the
    prospect, which shows it to the consultant (`Prospect.hear_enquiry`). It may come before
    the prospect (its `lead.qualified` or `lead.reactivated` still on the way): recorded
    anyway, and heard when the prospect is made. Keyed by intake's enquiry id, so a
    redelivery, or the same enquiry published again, changes nothing."""
    enquiry = envelope.payload
    if getattr(enquiry, "stage", "first_contact") != "prospect":
        return
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None
        tenant, lead = envelope.tenant_id, envelope.lead_id
        # The lock a prospect's creation takes too: it either sees this enquiry or comes after.
        dealership = await uow.repo.dealership_of(tenant, lead) or envelope.dealership_id
        if dealership is not None:
            await uow.repo.lock_dealership(tenant, dealership)
        p = await uow.repo.get(tenant, lead)
        erased = p.erased_at is not None if p else await uow.repo.is_erased(tenant, lead)
        values = enquiries.activity_values(enquiry, erased=erased)
        recorded = await uow.repo.add_enquiry(tenant, lead, values)
        if recorded and p is not None and p.hear_enquiry(enquiry.received_at):
            await _emit(uow, [p])
        await uow.commit()


async def on_person_erased(
    uow: AssignmentUnitOfWork, envelope: Envelope[Any], now: datetime
) -> None:
    """Scrub the person from these leads' prospects (and from any that arrive later)."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        tenant = envelope.tenant_id
        lead_ids = sorted(set(envelope.payload.lead_ids))
        found = {lead: await uow.repo.dealership_of(tenant, lead) for lead in lead_ids}
        # Several dealership locks: all at once, in one order, before any row lock.
        for dealership in sorted({d for d in found.values() if d is not None}):
            await uow.repo.lock_dealership(tenant, dealership)
        for lead in lead_ids:
            await uow.repo.mark_erased(tenant, lead, envelope.payload.erased_at)
            p = await uow.repo.get(tenant, lead)
            if p is not None:
                p.erase(now)
                await uow.repo.save(p)
                await uow.repo.scrub_activities(tenant, lead)
        await uow.commit()


async def on_lead_dead(uow: AssignmentUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """No more contact with this lead, ever: its prospect (if here; else when it arrives, see
    `_dead_first`) shows do-not-contact; when the reason is do_not_contact every prospect of
    the person does."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None
        tenant, lead = envelope.tenant_id, envelope.lead_id
        listed = envelope.payload.reason == "do_not_contact"
        await uow.repo.mark_dead(tenant, lead, envelope.payload.dead_at, do_not_contact=listed)
        dealership = await uow.repo.dealership_of(tenant, lead)
        if dealership is not None:
            await uow.repo.lock_dealership(tenant, dealership)
            p = await uow.repo.get(tenant, lead)
            if p is not None:
                await _end_contact(uow, p, listed=listed)
        await uow.commit()


async def _dead_first(uow: AssignmentUnitOfWork, p: Prospect) -> None:
    """lead.dead came before this event: the prospect is left as it would have."""
    listed = await uow.repo.dead(p.tenant_id, p.lead_id)
    if listed is not None:
        p.end_contact()
        if listed:
            await _spread_do_not_contact(uow, p)


async def _end_contact(uow: AssignmentUnitOfWork, p: Prospect, *, listed: bool) -> None:
    if p.end_contact():
        await uow.repo.save(p)
    if listed:
        await _spread_do_not_contact(uow, p)


# -- timers -----------------------------------------------------------------------------------


async def _timed(
    uow: AssignmentUnitOfWork, timer: timers.Timer
) -> tuple[Prospect | None, datetime | None]:
    """The prospect of an accountability timer, if it still has the assignment the timer was
    set for (a later assignment moved or replaced the timer)."""
    await uow.repo.lock_dealership(timer.tenant_id, timer.payload["dealership_id"])
    p = await uow.repo.get(timer.tenant_id, UUID(timer.key))
    if p is None or p.state != "open" or p.assigned_at is None:
        return None, None
    if p.assigned_at != datetime.fromisoformat(timer.payload["assigned_at"]):
        return None, None
    return p, p.assigned_at


async def on_sla_due(uow: AssignmentUnitOfWork, timer: timers.Timer, now: datetime) -> None:
    """The consultant did not act in time: alert the managers (the prospect shows escalated,
    and `prospect.escalated` goes out through the outbox for their notification systems)."""
    p, _ = await _timed(uow, timer)
    if p is not None and p.escalate(now):
        await _emit(uow, [p])


async def _move_on(
    uow: AssignmentUnitOfWork, timer: timers.Timer, now: datetime, reason: str
) -> None:
    p, _ = await _timed(uow, timer)
    if p is None or p.acted_since_assigned():
        return
    assert p.consultant_id is not None
    p.passed_over = [*p.passed_over, p.consultant_id]
    pool = await allocation.load_pool(uow, p.tenant_id, p.dealership_id)
    choice = await allocation.pick(
        uow, pool, p, now, exclude=frozenset(p.passed_over), reason=reason
    )
    if choice.consultant_id is not None:
        await allocation.give(uow, pool, p, choice, now)
    else:
        p.escalate(now, "no_eligible_consultant")  # nobody else: it stays, managers alerted
    await _emit(uow, [p])


async def on_hot_due(uow: AssignmentUnitOfWork, timer: timers.Timer, now: datetime) -> None:
    """48 h and a hot prospect still untouched: to the next eligible consultant."""
    await _move_on(uow, timer, now, "not_acted_48h")


async def on_rotate_due(uow: AssignmentUnitOfWork, timer: timers.Timer, now: datetime) -> None:
    """The dealership's rotate time passed and the new prospect is untouched: next one."""
    await _move_on(uow, timer, now, "rotated")


async def on_drain_due(uow: AssignmentUnitOfWork, timer: timers.Timer, now: datetime) -> None:
    dealership = timer.payload["dealership_id"]
    await uow.repo.lock_dealership(timer.tenant_id, dealership)
    await _emit(uow, await allocation.drain(uow, timer.tenant_id, dealership, now))


# -- managers: roster and routing -------------------------------------------------------------


def _check_dealership(actor: Actor, dealership_id: str) -> None:
    if not actor.sees(dealership_id):
        raise NotFound(f"no dealership {dealership_id} among yours")


async def _consultant(uow: AssignmentUnitOfWork, actor: Actor, consultant_id: str) -> Consultant:
    c = await uow.repo.consultant(actor.tenant_id, consultant_id)
    if c is None or not actor.sees(c.dealership_id):
        raise NotFound(f"no consultant {consultant_id} in your dealerships")
    return c


async def put_consultant(
    uow: AssignmentUnitOfWork, actor: Actor, c: Consultant, now: datetime, *, create: bool
) -> Consultant:
    """Create or replace a consultant's profile; whoever waits may now be theirs."""
    _check_dealership(actor, c.dealership_id)
    async with uow:
        await uow.repo.lock_dealership(actor.tenant_id, c.dealership_id)
        existing = await uow.repo.consultant(actor.tenant_id, c.consultant_id)
        if create and existing is not None:
            raise Refused("consultant.exists", f"consultant {c.consultant_id} exists already")
        if not create:
            if existing is None or not actor.sees(existing.dealership_id):
                raise NotFound(f"no consultant {c.consultant_id} in your dealerships")
            if existing.dealership_id != c.dealership_id:
                raise Refused(
                    "consultant.dealership_fixed",
                    "a consultant stays in one dealership; create them anew in the other",
                )
            c = replace(c, clocked=existing.clocked, last_assigned_at=existing.last_assigned_at)
        await uow.repo.put_consultant(c)
        await _emit(uow, await allocation.drain(uow, actor.tenant_id, c.dealership_id, now))
        await uow.commit()
    return c


async def set_presence(
    uow: AssignmentUnitOfWork,
    actor: Actor,
    consultant_id: str,
    clocked: bool | None,
    now: datetime,
) -> Consultant:
    """Clock in (True), out (False) or follow the schedule (None); a consultant only for
    themselves, a manager for anyone of their dealerships."""
    if not actor.is_manager and actor.subject != consultant_id:
        raise NotFound(f"no consultant {consultant_id} you may clock")
    async with uow:
        c = await _consultant(uow, actor, consultant_id)
        await uow.repo.lock_dealership(actor.tenant_id, c.dealership_id)
        c = replace(c, clocked=clocked)
        await uow.repo.put_consultant(c)
        await _emit(uow, await allocation.drain(uow, actor.tenant_id, c.dealership_id, now))
        await uow.commit()
    return c


async def put_routing(
    uow: AssignmentUnitOfWork,
    actor: Actor,
    dealership_id: str,
    config: dict[str, Any],
    now: datetime,
) -> Routing:
    _check_dealership(actor, dealership_id)
    Routing.from_json(config, 1)  # refuse a bad configuration before storing it
    async with uow:
        await uow.repo.lock_dealership(actor.tenant_id, dealership_id)
        version = await uow.repo.add_routing(actor.tenant_id, dealership_id, config, actor.subject)
        await _emit(uow, await allocation.drain(uow, actor.tenant_id, dealership_id, now))
        await uow.commit()
    return Routing.from_json(config, version)


# -- prospects --------------------------------------------------------------------------------


async def _load(
    uow: AssignmentUnitOfWork, actor: Actor, lead_id: UUID, *, claiming: bool = False
) -> Prospect:
    """The prospect, locked after its dealership; 404 outside the caller's reach (a consultant
    reaches their own prospects and, to claim, any of their dealerships')."""
    dealership = await uow.repo.dealership_of(actor.tenant_id, lead_id)
    if dealership is None or not actor.sees(dealership):
        raise NotFound(f"no prospect {lead_id} in your dealerships")
    await uow.repo.lock_dealership(actor.tenant_id, dealership)
    p = await uow.repo.get(actor.tenant_id, lead_id)
    assert p is not None
    if not (actor.is_manager or claiming) and p.consultant_id != actor.subject:
        raise NotFound(f"no prospect {lead_id} of yours")
    return p


async def record_activity(
    uow: AssignmentUnitOfWork,
    actor: Actor,
    lead_id: UUID,
    *,
    kind: str,
    note: str | None,
    at: datetime | None,
    next_follow_up_at: datetime | None,
    now: datetime,
) -> UUID:
    async with uow:
        p = await _load(uow, actor, lead_id)
        when = min(at or now, now)  # an activity cannot be logged ahead of time
        p.record_activity(actor.subject, when, next_follow_up_at, as_manager=actor.is_manager)
        activity_id = uuid4()
        await uow.repo.add_activity(
            p,
            {
                "activity_id": activity_id,
                "consultant_id": actor.subject,
                "kind": kind,
                "note": None if p.erased_at else note,
                "at": when,
                "next_follow_up_at": next_follow_up_at,
            },
        )
        await _emit(uow, [p])
        await uow.commit()
    return activity_id


async def claim(uow: AssignmentUnitOfWork, actor: Actor, lead_id: UUID, now: datetime) -> None:
    """Up for grabs: the first eligible consultant of the pool to claim it gets it."""
    async with uow:
        p = await _load(uow, actor, lead_id, claiming=True)
        if p.state != "up_for_grabs":
            raise Refused("prospect.not_offered", f"the prospect is {p.state}, not up for grabs")
        pool = await allocation.load_pool(uow, p.tenant_id, p.dealership_id)
        route = pool.routing.route(p.routing_facts(), now)
        c = pool.consultants.get(actor.subject)
        if c is None or (route.pool and actor.subject not in route.pool):
            raise Refused("claim.not_in_pool", "the prospect is offered to another pool")
        if not c.can_take(p.needs(), pool.load_of(c.consultant_id), now):
            raise Refused(
                "claim.not_eligible", "absent, without the skills, or at the cap of prospects"
            )
        choice = allocation.Choice(
            c.consultant_id, "claimed", "up_for_grabs", route.rule, "claimed from the pool"
        )
        await allocation.give(uow, pool, p, choice, now)
        await _emit(uow, [p])
        await uow.commit()


async def reassign(
    uow: AssignmentUnitOfWork,
    actor: Actor,
    lead_id: UUID,
    consultant_id: str,
    now: datetime,
) -> None:
    """A manager gives the prospect to someone (active, of the dealership, under the cap)."""
    async with uow:
        p = await _load(uow, actor, lead_id)
        if not p.is_open:
            raise Refused("prospect.closed", f"the prospect is already {p.state}")
        pool = await allocation.load_pool(uow, p.tenant_id, p.dealership_id)
        c = pool.consultants.get(consultant_id)
        if c is None or not c.active:
            raise Refused("reassign.unknown_consultant", f"no active consultant {consultant_id}")
        if pool.load_of(consultant_id) >= c.cap:
            raise Refused("reassign.cap", f"{consultant_id} has {c.cap} open prospects already")
        choice = allocation.Choice(consultant_id, "manager", "manager", None, f"by {actor.subject}")
        await allocation.give(uow, pool, p, choice, now)
        await _emit(uow, [p])
        await uow.commit()


async def _close_done(uow: AssignmentUnitOfWork, p: Prospect, now: datetime) -> None:
    """After a win or a loss: no owner, no timers, and the freed place goes to who waits."""
    await uow.repo.change_owner(p, None, p.state, now)
    await allocation.cancel_accountability(uow, p)
    await _emit(uow, [p])
    await _emit(uow, await allocation.drain(uow, p.tenant_id, p.dealership_id, now))


async def win(
    uow: AssignmentUnitOfWork,
    actor: Actor,
    lead_id: UUID,
    *,
    vehicle: dict[str, Any] | None,
    amount: Decimal | None,
    currency: str | None,
    now: datetime,
) -> None:
    async with uow:
        p = await _load(uow, actor, lead_id)
        p.win(
            actor.subject,
            now,
            vehicle=vehicle,
            amount=amount,
            currency=currency,
            as_manager=actor.is_manager,
        )
        await _close_done(uow, p, now)
        await uow.commit()


async def lose(
    uow: AssignmentUnitOfWork,
    actor: Actor,
    lead_id: UUID,
    *,
    reason_code: str,
    note: str | None,
    details: LossDetails,
    now: datetime,
) -> None:
    async with uow:
        p = await _load(uow, actor, lead_id)
        p.lose(
            actor.subject,
            now,
            reason_code=reason_code,
            note=note,
            details=details,
            as_manager=actor.is_manager,
        )
        if p.do_not_contact:
            await _spread_do_not_contact(uow, p)
        await _close_done(uow, p, now)
        await uow.commit()


async def _spread_do_not_contact(uow: AssignmentUnitOfWork, p: Prospect) -> None:
    """The person asked not to be contacted: every prospect of theirs shows it."""
    for lead in await uow.repo.same_person(p.tenant_id, p):
        if lead != p.lead_id:
            other = await uow.repo.get(p.tenant_id, lead)
            if other is not None and not other.do_not_contact:
                other.do_not_contact = True
                await uow.repo.save(other)


__all__ = ["Actor", "NotFound", "Refused"]

"""Who gets a prospect: sticky first, then the first matching rule's pool and method.

Every function here runs inside a unit of work that already holds the dealership's lock
(`AssignmentRepository.lock_dealership`), so the loads it reads stay true until it commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from assignment.domain.consultant import Consultant
from assignment.domain.prospect import Prospect
from assignment.domain.rules import HOT_REASSIGN_AFTER, Routing
from assignment.domain.selection import Candidate, choose, explain
from assignment.service_layer.unit_of_work import AssignmentUnitOfWork
from shared import timers

SLA_TIMER = "assignment.sla"
HOT_TIMER = "assignment.hot_reassign"
ROTATE_TIMER = "assignment.rotate"
DRAIN_TIMER = "assignment.drain"
CLOSE_RATE_WINDOW = timedelta(days=90)
RECENT_ASSIGNMENTS_WINDOW = timedelta(days=30)
DRAIN_BATCH = 500
TURN_STEP = timedelta(microseconds=1)  # PostgreSQL's timestamps keep microseconds


@dataclass
class Pool:
    """A dealership as one allocation pass sees it (loaded once, under its lock)."""

    tenant_id: str
    dealership_id: str
    routing: Routing
    consultants: dict[str, Consultant]
    loads: dict[str, int]
    _stats: dict[str, tuple[int, int]] | None = field(default=None)
    _recent: dict[str, int] | None = field(default=None)

    def load_of(self, consultant_id: str) -> int:
        return self.loads.get(consultant_id, 0)

    def has_room(self, now: datetime) -> bool:
        return any(
            c.is_present(now) and self.load_of(c.consultant_id) < c.cap
            for c in self.consultants.values()
        )


async def load_pool(uow: AssignmentUnitOfWork, tenant_id: str, dealership_id: str) -> Pool:
    routing = await uow.repo.routing(tenant_id, dealership_id)
    assert routing is not None
    consultants = await uow.repo.consultants(tenant_id, dealership_id)
    return Pool(
        tenant_id,
        dealership_id,
        routing,
        {c.consultant_id: c for c in consultants},
        await uow.repo.open_loads(tenant_id, dealership_id),
    )


@dataclass(frozen=True)
class Choice:
    consultant_id: str | None  # None: nobody (see `offer`)
    reason: str
    method: str | None = None
    rule: str | None = None
    detail: str | None = None
    offer: bool = False  # up for grabs: offered to the pool instead


async def pick(
    uow: AssignmentUnitOfWork,
    pool: Pool,
    p: Prospect,
    now: datetime,
    *,
    exclude: frozenset[str] = frozenset(),
    reason: str | None = None,
    former: str | None = None,
) -> Choice:
    """The consultant for `p`, or why there is none. `reason` names a reassignment; `former`
    is the consultant an event says the person had (when this prospect never had one here)."""
    needs = p.needs()

    def eligible(consultant_id: str) -> bool:
        c = pool.consultants.get(consultant_id)
        return (
            c is not None
            and consultant_id not in exclude
            and c.can_take(needs, pool.load_of(consultant_id), now)
        )

    fresh = reason is None
    default_reason = "hot_reactivation" if p.reactivated and fresh else None
    # Sticky: a returning person goes back to the consultant they had, if eligible.
    previous = p.consultant_id if p.state != "open" else None
    previous = previous or former or await uow.repo.previous_consultant(p)
    if previous and eligible(previous):
        return Choice(
            previous,
            reason or default_reason or "sticky",
            method="sticky",
            detail="had this person before",
        )
    route = pool.routing.route(p.routing_facts(), now)
    where = f"rule {route.rule!r}" if route.rule else "the default pool"
    if route.method == "up_for_grabs" and fresh:
        return Choice(None, "up_for_grabs", "up_for_grabs", route.rule, offer=True)
    members = (
        [pool.consultants[c] for c in route.pool if c in pool.consultants]
        if route.pool
        else list(pool.consultants.values())
    )
    candidates = [
        Candidate(c.consultant_id, i, pool.load_of(c.consultant_id), c.last_assigned_at)
        for i, c in enumerate(members)
        if eligible(c.consultant_id)
    ]
    if not candidates:
        return Choice(None, "waiting", route.method, route.rule, f"nobody eligible in {where}")
    method = "round_robin" if route.method == "up_for_grabs" else route.method
    if method == "close_rate":
        candidates = await _with_history(uow, pool, candidates, now)
    chosen = choose(method, candidates)
    cap = pool.consultants[chosen.consultant_id].cap
    return Choice(
        chosen.consultant_id,
        reason or default_reason or ("rule" if route.rule else "default_pool"),
        method,
        route.rule,
        f"{where}: {explain(method, chosen, cap)}",
    )


async def _with_history(
    uow: AssignmentUnitOfWork, pool: Pool, candidates: list[Candidate], now: datetime
) -> list[Candidate]:
    if pool._stats is None:
        pool._stats = await uow.repo.close_stats(
            pool.tenant_id, pool.dealership_id, now - CLOSE_RATE_WINDOW
        )
        pool._recent = await uow.repo.assigned_since(
            pool.tenant_id, now - RECENT_ASSIGNMENTS_WINDOW
        )
    recent = pool._recent or {}
    return [
        Candidate(
            c.consultant_id,
            c.position,
            c.open_prospects,
            c.last_assigned_at,
            won_recently=pool._stats.get(c.consultant_id, (0, 0))[0],
            lost_recently=pool._stats.get(c.consultant_id, (0, 0))[1],
            assigned_recently=recent.get(c.consultant_id, 0),
        )
        for c in candidates
    ]


def next_turn(pool: Pool, now: datetime) -> datetime:
    """When a consultant is given a prospect now, as round robin sees it: `now`, or just after
    the dealership's latest turn if that is not earlier. `now` is read as a handler starts,
    before it waits for the dealership's lock, and replicas' clocks differ: a handler that
    waited longer commits after the others with an earlier time. Stamped with it, its
    consultant looked served longest ago and got the next prospect too (bench/assignment: 18
    to 33 prospects each where round robin owed 25). Under the lock, turns only move forward."""
    latest = max(
        (c.last_assigned_at for c in pool.consultants.values() if c.last_assigned_at),
        default=None,
    )
    if latest is None or latest < now:
        return now
    return latest + TURN_STEP


async def give(
    uow: AssignmentUnitOfWork, pool: Pool, p: Prospect, choice: Choice, now: datetime
) -> None:
    """Assign `p` as chosen: its owner, the loads, the consultant's turn, its timers."""
    assert choice.consultant_id is not None
    before = p.consultant_id if p.state == "open" else None
    p.assign(
        choice.consultant_id,
        now,
        reason=choice.reason,
        respond_by=now + pool.routing.sla(p.hot),
        detail=choice.detail,
        rule=choice.rule,
        rule_version=pool.routing.version or None,
        method=choice.method,
    )
    pool.loads[choice.consultant_id] = pool.load_of(choice.consultant_id) + 1
    if before is not None:
        pool.loads[before] = pool.load_of(before) - 1
    turn = next_turn(pool, now)
    pool.consultants[choice.consultant_id].last_assigned_at = turn
    await uow.repo.touch_consultant(p.tenant_id, choice.consultant_id, turn)
    await uow.repo.change_owner(p, choice.consultant_id, choice.reason, now)
    await schedule_accountability(uow, pool.routing, p)


async def allocate(
    uow: AssignmentUnitOfWork, pool: Pool, p: Prospect, now: datetime, *, former: str | None = None
) -> bool:
    """A prospect without a consultant: assign it, offer it, or queue it. True if assigned.
    `former`: the consultant the person had, per the event that brought them (sticky)."""
    choice = await pick(uow, pool, p, now, former=former)
    if choice.consultant_id is not None:
        await give(uow, pool, p, choice, now)
        return True
    if choice.offer:
        p.offer(now, choice.rule, pool.routing.version or None)
    else:
        p.wait(now, choice.detail or "nobody eligible")
        await schedule_drain(uow, pool, now)
    return False


async def schedule_accountability(uow: AssignmentUnitOfWork, routing: Routing, p: Prospect) -> None:
    """The timers of a fresh assignment: SLA alert, hot reassignment, rotation."""
    assert p.assigned_at is not None and p.respond_by is not None
    key = str(p.lead_id)
    payload = {"dealership_id": p.dealership_id, "assigned_at": p.assigned_at.isoformat()}
    session = uow.session
    await timers.schedule(
        session,
        kind=SLA_TIMER,
        key=key,
        tenant_id=p.tenant_id,
        due_at=p.respond_by,
        payload=payload,
    )
    if p.hot:
        await timers.schedule(
            session,
            kind=HOT_TIMER,
            key=key,
            tenant_id=p.tenant_id,
            due_at=p.assigned_at + HOT_REASSIGN_AFTER,
            payload=payload,
        )
    if routing.rotate_after is not None:
        await timers.schedule(
            session,
            kind=ROTATE_TIMER,
            key=key,
            tenant_id=p.tenant_id,
            due_at=p.assigned_at + routing.rotate_after,
            payload=payload,
        )


async def cancel_accountability(uow: AssignmentUnitOfWork, p: Prospect) -> None:
    for kind in (SLA_TIMER, HOT_TIMER, ROTATE_TIMER):
        await timers.cancel(uow.session, kind=kind, key=str(p.lead_id))


async def schedule_drain(uow: AssignmentUnitOfWork, pool: Pool, now: datetime) -> None:
    """Look at the unassigned queue again when the next consultant comes on shift by
    schedule (or back from an absence); clock-ins and freed caps drain it at once."""
    starts = [c.next_presence_start(now) for c in pool.consultants.values()]
    due = min((s for s in starts if s is not None), default=None)
    if due is not None:
        await timers.schedule(
            uow.session,
            kind=DRAIN_TIMER,
            key=f"{pool.tenant_id}/{pool.dealership_id}",
            tenant_id=pool.tenant_id,
            due_at=due,
            payload={"dealership_id": pool.dealership_id},
        )


async def drain(
    uow: AssignmentUnitOfWork, tenant_id: str, dealership_id: str, now: datetime
) -> list[Prospect]:
    """Assign what waits in the dealership's unassigned queue, hot first, then oldest.
    Returns the prospects it changed (the caller saves them and collects their events)."""
    pool = await load_pool(uow, tenant_id, dealership_id)
    changed: list[Prospect] = []
    waiting = await uow.repo.waiting(tenant_id, dealership_id, DRAIN_BATCH)
    for lead_id in waiting:
        if not pool.has_room(now):
            break
        p = await uow.repo.get(tenant_id, lead_id)
        if p is None or p.state != "unassigned":
            continue
        choice = await pick(uow, pool, p, now)
        if choice.consultant_id is not None:
            await give(uow, pool, p, choice, now)
            changed.append(p)
        elif choice.offer:
            p.offer(now, choice.rule, pool.routing.version or None)
            changed.append(p)
    if waiting and len(changed) < len(waiting):
        await schedule_drain(uow, pool, now)
    return changed

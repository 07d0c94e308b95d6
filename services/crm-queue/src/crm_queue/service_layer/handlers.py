"""crm-queue's handlers: what happens on each event, timer and agent command.

Each runs in one unit of work: task rows, attempts, the SLA and pool timers and the outbox
events commit together. Consumers claim the event id in the inbox first, so a redelivery is a
no-op; the task row is inserted with ON CONFLICT DO NOTHING and then locked, so lead.ingested
and lead.duplicate of one lead on two replicas never collide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from crm_queue.domain.task import Attempt, Refused, Task
from crm_queue.service_layer import events
from crm_queue.service_layer.lead_events import (
    CONSUMER,
    POOL_TIMER,
    SLA_TIMER,
    ForeignLead,
    on_lead_events,
)
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared import timers
from shared.contracts import Envelope


class NotFound(LookupError):
    pass


async def _schedule_pool(uow: CrmUnitOfWork, task: Task, caused_by: Envelope[Any]) -> None:
    """The pool timer, remembering the attempt that sent the lead there (the loss's cause)."""
    assert task.pool_until is not None
    await timers.schedule(
        uow.session,
        kind=POOL_TIMER,
        key=str(task.lead_id),
        tenant_id=task.tenant_id,
        due_at=task.pool_until,
        payload={"causation_id": str(caused_by.event_id)},
    )


async def _cancel_timers(uow: CrmUnitOfWork, lead_id: UUID, *kinds: str) -> None:
    for kind in kinds:
        await timers.cancel(uow.session, kind=kind, key=str(lead_id))


async def on_lead_ingested(uow: CrmUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """A new lead: open its first-contact task (see `lead_events`, a batch of one)."""
    await on_lead_events(uow, [envelope], now)


async def on_lead_duplicate(uow: CrmUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """The customer asked again: raise the task, or open it (see `lead_events`)."""
    await on_lead_events(uow, [envelope], now)


async def on_sla_due(uow: CrmUnitOfWork, timer: timers.Timer, now: datetime) -> None:
    """The SLA timer fired (inside the runner's transaction): breach once if still untouched."""
    task = await uow.repo.get(timer.tenant_id, UUID(timer.key))
    if task is not None and task.breach_sla(now):
        await uow.repo.save(task)
        for e in events.collect(task, causation_id=timer.payload.get("causation_id")):
            uow.emit(e)


async def on_pool_due(uow: CrmUnitOfWork, timer: timers.Timer, now: datetime) -> None:
    """The pool period ran out: a lead still in the pool is closed as not reached, by us."""
    task = await uow.repo.get(timer.tenant_id, UUID(timer.key))
    if task is None:
        return
    policy = await uow.repo.policy(task.tenant_id, task.dealership_id)
    if task.expire_from_pool(now, min_attempts=policy.min_attempts):
        await uow.repo.save(task)
        row = await uow.repo.row(task.tenant_id, task.lead_id)  # recovery's facts on lead.lost
        enquiries = await uow.repo.enquiries_for_view(task.tenant_id, task.lead_id)
        cause = timer.payload.get("causation_id")
        for e in events.collect(task, causation_id=cause, row=row, enquiries=enquiries):
            uow.emit(e)


@dataclass(frozen=True)
class Actor:
    tenant_id: str
    agent_id: str
    dealerships: tuple[str, ...] | None  # None: every dealership of the tenant
    is_manager: bool


async def _load(uow: CrmUnitOfWork, actor: Actor, lead_id: UUID) -> Task:
    task = await uow.repo.get(actor.tenant_id, lead_id)
    if task is None or (
        actor.dealerships is not None and task.dealership_id not in actor.dealerships
    ):
        raise NotFound(f"no lead {lead_id} in your dealerships")
    return task


async def _finish(uow: CrmUnitOfWork, task: Task) -> None:
    await uow.repo.save(task)
    closed = task.state in ("qualified", "lost")
    row = await uow.repo.row(task.tenant_id, task.lead_id) if closed else None
    enquiries = await uow.repo.enquiries_for_view(task.tenant_id, task.lead_id) if closed else []
    for e in events.collect(task, row=row, enquiries=enquiries):
        uow.emit(e)
    await uow.commit()


async def claim(uow: CrmUnitOfWork, actor: Actor, lead_id: UUID, now: datetime) -> Task:
    async with uow:
        task = await _load(uow, actor, lead_id)
        policy = await uow.repo.policy(actor.tenant_id, task.dealership_id)
        task.claim(actor.agent_id, now, policy)
        await _finish(uow, task)
        return task


async def release(uow: CrmUnitOfWork, actor: Actor, lead_id: UUID, now: datetime) -> Task:
    async with uow:
        task = await _load(uow, actor, lead_id)
        task.release(actor.agent_id, now)
        await _finish(uow, task)
        return task


async def record_attempt(
    uow: CrmUnitOfWork,
    actor: Actor,
    lead_id: UUID,
    *,
    channel: str,
    outcome: str,
    note: str | None,
    now: datetime,
    automatic: bool = False,
) -> tuple[Task, Attempt]:
    async with uow:
        task = await _load(uow, actor, lead_id)
        policy = await uow.repo.policy(actor.tenant_id, task.dealership_id)
        was_in_pool = task.state == "pool"
        made = task.record_attempt(
            actor.agent_id,
            channel,  # type: ignore[arg-type]
            outcome,  # type: ignore[arg-type]
            note,
            now,
            policy,
            attempt_id=uuid4(),
            as_manager=actor.is_manager,
            automatic=automatic,
        )
        if not made.automatic:  # an automatic reply is no first contact: the SLA runs on
            await _cancel_timers(uow, lead_id, SLA_TIMER)
        await uow.repo.save(task)
        published = events.collect(task)
        for e in published:
            uow.emit(e)
        if task.state == "pool" and not was_in_pool:  # the cadence is used up
            await _schedule_pool(uow, task, caused_by=published[-1])
        elif was_in_pool and task.state != "pool":  # reached
            await _cancel_timers(uow, lead_id, POOL_TIMER)
        await uow.commit()
        return task, made


async def qualify(
    uow: CrmUnitOfWork,
    actor: Actor,
    lead_id: UUID,
    *,
    outcome: str,
    details: str | None,
    appointment_at: datetime | None,
    now: datetime,
    hot: bool = False,
) -> Task:
    async with uow:
        task = await _load(uow, actor, lead_id)
        task.qualify(
            actor.agent_id,
            outcome,
            details,
            appointment_at,
            now,
            as_manager=actor.is_manager,
            hot=hot,
        )
        await _cancel_timers(uow, lead_id, SLA_TIMER, POOL_TIMER)
        await _finish(uow, task)
        return task


async def lose(
    uow: CrmUnitOfWork,
    actor: Actor,
    lead_id: UUID,
    *,
    reason_code: str,
    note: str | None,
    now: datetime,
) -> Task:
    async with uow:
        task = await _load(uow, actor, lead_id)
        policy = await uow.repo.policy(actor.tenant_id, task.dealership_id)
        task.lose(actor.agent_id, reason_code, note, now, policy, as_manager=actor.is_manager)
        if task.do_not_contact:
            person = await uow.repo.person(actor.tenant_id, lead_id)
            await uow.repo.mark_do_not_contact(
                actor.tenant_id, lead_id, person.get("email"), person.get("phone")
            )
        await _cancel_timers(uow, lead_id, SLA_TIMER, POOL_TIMER)
        await _finish(uow, task)
        return task


__all__ = [
    "CONSUMER",
    "POOL_TIMER",
    "SLA_TIMER",
    "Actor",
    "ForeignLead",
    "NotFound",
    "Refused",
    "on_lead_events",
]

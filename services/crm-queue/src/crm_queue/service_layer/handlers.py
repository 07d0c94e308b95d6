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

from crm_queue.domain.task import Attempt, Refused, Task, channels_refused
from crm_queue.service_layer import events
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared import timers
from shared.contracts import Envelope

CONSUMER = "crm-queue"
SLA_TIMER = "crm.sla"
POOL_TIMER = "crm.pool"


class NotFound(LookupError):
    pass


def _facts_from_ingested(envelope: Envelope[Any]) -> dict[str, Any]:
    p = envelope.payload
    return {
        "source_id": p.source.source_id,
        "source_name": p.source.name,
        "person": p.person.model_dump(mode="json"),
        "vehicle": p.vehicle.model_dump(mode="json") if p.vehicle else None,
        "comments": p.comments,
    }


async def _schedule_sla(uow: CrmUnitOfWork, task: Task, caused_by: Envelope[Any]) -> None:
    """The SLA timer, remembering the event that started the clock (the breach's causation)."""
    await timers.schedule(
        uow.session,
        kind=SLA_TIMER,
        key=str(task.lead_id),
        tenant_id=task.tenant_id,
        due_at=task.sla_due_at,
        payload={"causation_id": str(caused_by.event_id)},
    )


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


class ForeignLead(ValueError):
    """The lead id belongs to another tenant's task: a broken event, dead-lettered at once."""


async def _existing(uow: CrmUnitOfWork, envelope: Envelope[Any]) -> Task:
    """The lead's task that a concurrent handler inserted first, locked for update."""
    assert envelope.lead_id is not None
    task = await uow.repo.get(envelope.tenant_id, envelope.lead_id)
    if task is None:
        raise ForeignLead(f"lead {envelope.lead_id} belongs to another tenant")
    return task


async def on_lead_ingested(uow: CrmUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """A new lead: open its first-contact task with an SLA due time.

    If a lead.duplicate overtook it and opened the task already, the lead's own time and
    facts are learnt now and the SLA timer moved (the task then equals the in-order one).
    """
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None and envelope.dealership_id is not None
        await uow.repo.note_dealership(envelope.tenant_id, envelope.dealership_id)
        facts = _facts_from_ingested(envelope)
        person = envelope.payload.person
        refused = channels_refused(envelope.payload.consent.model_dump())
        received_at = envelope.payload.received_at
        policy = await uow.repo.policy(envelope.tenant_id, envelope.dealership_id)
        task = await uow.repo.get(envelope.tenant_id, envelope.lead_id)
        if task is None:
            opened = Task.open(
                lead_id=envelope.lead_id,
                tenant_id=envelope.tenant_id,
                dealership_id=envelope.dealership_id,
                received_at=received_at,
                policy=policy,
                now=now,
                correlation_id=envelope.correlation_id,
                source_kind=envelope.payload.source.kind,
            )
            opened.do_not_contact = await uow.repo.is_do_not_contact(
                envelope.tenant_id, person.email, person.phone
            )
            opened.no_consent_channels = refused
            if await uow.repo.add(opened, facts):
                if opened.awaits_first_contact:
                    await _schedule_sla(uow, opened, envelope)
                task = opened
            else:  # its lead.duplicate, on another replica, opened it meanwhile
                task = await _existing(uow, envelope)
        kind = envelope.payload.source.kind
        if task.learn_lead(received_at, policy, envelope.correlation_id, kind):  # repeat first
            if await uow.repo.is_do_not_contact(envelope.tenant_id, person.email, person.phone):
                task.mark_do_not_contact()
            task.no_consent_channels = refused
            await uow.repo.save(task, facts)
            if task.awaits_first_contact:
                await _schedule_sla(uow, task, envelope)
            else:
                await _cancel_timers(uow, task.lead_id, SLA_TIMER)
        for e in events.collect(task, causation=envelope):
            uow.emit(e)
        await uow.commit()


async def on_lead_duplicate(uow: CrmUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """The customer asked again: raise the open task (or open it, if this came first).

    A task opened here is provisional (`ingested` false): it takes the repeat's time until
    lead.ingested brings the lead's own.
    """
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None and envelope.dealership_id is not None
        at = envelope.payload.received_at
        await uow.repo.note_dealership(envelope.tenant_id, envelope.dealership_id)
        task = await uow.repo.get(envelope.tenant_id, envelope.lead_id)
        if task is None:
            policy = await uow.repo.policy(envelope.tenant_id, envelope.dealership_id)
            opened = Task.open(
                lead_id=envelope.lead_id,
                tenant_id=envelope.tenant_id,
                dealership_id=envelope.dealership_id,
                received_at=at,
                policy=policy,
                now=now,
                ingested=False,
                # The repeat's, until lead.ingested brings the lead's own.
                correlation_id=envelope.correlation_id,
                source_kind=envelope.payload.source.kind,
            )
            if await uow.repo.add(opened, {}):
                await _schedule_sla(uow, opened, envelope)
                await uow.commit()
                return
            # Its lead.ingested (or another repeat), on another replica, opened it meanwhile.
            task = await _existing(uow, envelope)
        was_in_pool = task.state == "pool"
        if task.raise_priority(at):
            await uow.repo.save(task)
            if was_in_pool and task.state != "pool":  # asked again: a new round, not the pool
                await _cancel_timers(uow, task.lead_id, POOL_TIMER)
        await uow.commit()


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
    if task is not None and task.expire_from_pool(now):
        await uow.repo.save(task)
        row = await uow.repo.row(task.tenant_id, task.lead_id)  # recovery's facts on lead.lost
        for e in events.collect(task, causation_id=timer.payload.get("causation_id"), row=row):
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
    for e in events.collect(task, row=row):
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
        )
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


__all__ = ["Actor", "ForeignLead", "NotFound", "Refused"]

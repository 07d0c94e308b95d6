"""crm-queue's handlers: what happens on each event, timer and agent command.

Each runs in one unit of work: task rows, attempts, the SLA timer and the outbox events
commit together. Consumers claim the event id in the inbox first, so a redelivery is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from crm_queue.domain.task import Attempt, Refused, Task
from crm_queue.service_layer import events
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared import timers
from shared.contracts import Envelope

CONSUMER = "crm-queue"
SLA_TIMER = "crm.sla"


class NotFound(LookupError):
    pass


def _facts_from_ingested(envelope: Envelope[Any]) -> dict[str, Any]:
    p = envelope.payload
    return {
        "ingested": True,
        "source_id": p.source.source_id,
        "source_name": p.source.name,
        "person": p.person.model_dump(mode="json"),
        "vehicle": p.vehicle.model_dump(mode="json") if p.vehicle else None,
        "comments": p.comments,
    }


async def _schedule_sla(uow: CrmUnitOfWork, task: Task) -> None:
    await timers.schedule(
        uow.session,
        kind=SLA_TIMER,
        key=str(task.lead_id),
        tenant_id=task.tenant_id,
        due_at=task.sla_due_at,
    )


async def on_lead_ingested(uow: CrmUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """A new lead: open its first-contact task with an SLA due time."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None and envelope.dealership_id is not None
        facts = _facts_from_ingested(envelope)
        person = envelope.payload.person
        task = await uow.repo.get(envelope.tenant_id, envelope.lead_id)
        if task is None:
            policy = await uow.repo.policy(envelope.tenant_id, envelope.dealership_id)
            task = Task.open(
                lead_id=envelope.lead_id,
                tenant_id=envelope.tenant_id,
                dealership_id=envelope.dealership_id,
                received_at=envelope.payload.received_at,
                policy=policy,
                now=now,
            )
            task.do_not_contact = await uow.repo.is_do_not_contact(
                envelope.tenant_id, person.email, person.phone
            )
            await uow.repo.add(task, facts)
            await _schedule_sla(uow, task)
        else:  # a lead.duplicate came first and opened the task; now we know who it is
            await uow.repo.save(task, facts)
        for e in events.collect(task, causation=envelope):
            uow.emit(e)
        await uow.commit()


async def on_lead_duplicate(uow: CrmUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """The customer asked again: raise the open task (or open it, if this came first)."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None and envelope.dealership_id is not None
        at = envelope.payload.received_at
        task = await uow.repo.get(envelope.tenant_id, envelope.lead_id)
        if task is None:
            policy = await uow.repo.policy(envelope.tenant_id, envelope.dealership_id)
            task = Task.open(
                lead_id=envelope.lead_id,
                tenant_id=envelope.tenant_id,
                dealership_id=envelope.dealership_id,
                received_at=at,
                policy=policy,
                now=now,
            )
            await uow.repo.add(task, {"ingested": False})
            await _schedule_sla(uow, task)
        elif task.raise_priority(at):
            await uow.repo.save(task)
        await uow.commit()


async def on_sla_due(uow: CrmUnitOfWork, timer: timers.Timer, now: datetime) -> None:
    """The SLA timer fired (inside the runner's transaction): breach once if still untouched."""
    task = await uow.repo.get(timer.tenant_id, UUID(timer.key))
    if task is not None and task.breach_sla(now):
        await uow.repo.save(task)
        for e in events.collect(task):
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
        await timers.cancel(uow.session, kind=SLA_TIMER, key=str(lead_id))
        await _finish(uow, task)
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
        )
        await timers.cancel(uow.session, kind=SLA_TIMER, key=str(lead_id))
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
        await timers.cancel(uow.session, kind=SLA_TIMER, key=str(lead_id))
        await _finish(uow, task)
        return task


__all__ = ["Actor", "NotFound", "Refused"]

"""lead.ingested and lead.duplicate, a batch at a time: n events in one transaction.

The consumers get up to `max_batch` deliveries at once (`shared.messaging.batch`); one event is
a batch of one (the one-by-one fallback, the tests calling a handler directly). Each batch
costs a fixed number of statements, whatever its size: the inbox claim of every id, the
dealerships noted, their policies, the tasks already there (locked), the do-not-contact list,
the enquiries those tasks recorded before, then one multi-row insert of the new tasks, one of
the enquiries, one update of the changed ones, the timers and the outbox rows with one NOTIFY
each. Each event's enquiry is recorded whole (the agent sees every one on the task) and the
task's person is merged from all of them (`domain.contacts`), so it too is the same whatever
the order. A lead.ingested saying `do_not_contact` (or a person on crm-queue's own list) opens
the task in state `do_not_contact`: kept for the managers, no SLA timer, never in the queue.

Between the reads and the writes the events are applied in
their order to the tasks in memory, by the same rules as one at a time, so a batch ends in
the state its events give one by one: a duplicate before its lead opens the provisional task
that the lead then completes, a redelivered event is skipped.

A lead.duplicate with stage `prospect` (the person asked again while their lead is an open
prospect) is the consultant's, in assignment: it is claimed in the inbox and nothing else; the
task, closed since the lead was qualified or lost, is neither raised, counted nor opened.

A task another replica inserted between our read and our insert (its lead.ingested and our
lead.duplicate at once) makes the insert skip it: the transaction is rolled back and the batch
read again, now finding that task locked, as `add` and `_existing` did one event at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from crm_queue.adapters.dead import dead_among
from crm_queue.adapters.erasure import erased_among
from crm_queue.adapters.repository import is_listed
from crm_queue.domain.contacts import LEAD, REPEAT, merged_person
from crm_queue.domain.policy import Policy
from crm_queue.domain.task import Task, channels_refused
from crm_queue.service_layer import events
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared import timers
from shared.contracts import Envelope, PersonV1

CONSUMER = "crm-queue"
SLA_TIMER = "crm.sla"
POOL_TIMER = "crm.pool"
INGESTED = "lead.ingested"
DUPLICATE = "lead.duplicate"

# Rounds of a batch that meets tasks inserted meanwhile by other replicas; each round finds
# those locked, so a second is enough unless new ones keep coming.
_ROUNDS = 5


class ForeignLead(ValueError):
    """The lead id belongs to another tenant's task: a broken event, dead-lettered at once."""


class _Raced(Exception):
    """Another replica inserted a task of this batch meanwhile: read the batch again."""


def for_consultant(envelope: Envelope[Any]) -> bool:
    """An enquiry of a person whose lead is an open prospect: assignment's, not ours."""
    return (
        envelope.event_type == DUPLICATE
        and getattr(envelope.payload, "stage", "first_contact") == "prospect"
    )


def _facts_from_ingested(envelope: Envelope[Any]) -> dict[str, Any]:
    p = envelope.payload
    return {
        "source_id": p.source.source_id,
        "source_name": p.source.name,
        "person": p.person.model_dump(mode="json"),
        "vehicle": p.vehicle.model_dump(mode="json") if p.vehicle else None,
        "comments": p.comments,
        # What intake dropped, with the text as written (a phone the agent can still read).
        "warnings": [w.model_dump(mode="json") for w in p.warnings],
    }


def _without_person(envelope: Envelope[Any]) -> Envelope[Any]:
    """lead.ingested of an erased lead, as it would be had it come after the erasure."""
    p = envelope.payload
    vehicle = p.vehicle.model_copy(update={"comments": None, "vin": None}) if p.vehicle else None
    payload = p.model_copy(
        update={
            "person": PersonV1(),
            "comments": None,
            "vehicle": vehicle,
            "trade_ins": (),
            "extensions": {},
        }
    )
    return envelope.model_copy(update={"payload": payload})


def _json(model: Any) -> Any:
    return model.model_dump(mode="json") if model is not None else None


def _enquiry(envelope: Envelope[Any]) -> dict[str, Any]:
    """The enquiry an event brings, as the task's `enquiry` row: lead.ingested's is the
    lead's own (keyed by the lead id), lead.duplicate's a repeat (keyed by intake's id)."""
    p = envelope.payload
    own = envelope.event_type == INGESTED
    source = p.source
    return {
        "lead_id": envelope.lead_id,
        "enquiry_id": envelope.lead_id if own else p.enquiry_id,
        "tenant_id": envelope.tenant_id,
        "kind": LEAD if own else REPEAT,
        "received_at": p.received_at,
        "dealership_id": envelope.dealership_id
        if own
        else (p.enquiry_dealership_id or envelope.dealership_id),
        "source": {
            "source_id": source.source_id,
            "kind": source.kind,
            "name": source.name,
            "campaign": source.campaign,
            "channel": source.channel,
        },
        "person": _json(p.person),
        "vehicle": _json(p.vehicle),
        "trade_ins": [_json(v) for v in p.trade_ins],
        "comments": p.comments,
        "consent": _json(p.consent),
    }


@dataclass
class _Timer:
    """What a batch leaves a (kind, key) timer at: scheduled (due, payload) or cancelled."""

    scheduled: timers.Scheduled | None
    scheduled_here: bool  # scheduled earlier in this batch: a cancel then removes it, fired or not


@dataclass
class _Batch:
    """The tasks a batch touches, in memory, and what it has to write at the end."""

    policies: dict[tuple[str, str], Policy]
    listed: set[tuple[str, str, str]]  # do-not-contact keys of the batch's people
    tasks: dict[UUID, Task]  # by lead id: loaded (locked) or opened by this batch
    loaded_attempts: dict[UUID, int]
    new: dict[UUID, dict[str, Any]] = field(default_factory=dict)  # lead -> facts to insert
    changed: dict[UUID, dict[str, Any]] = field(default_factory=dict)  # lead -> facts to update
    timers: dict[tuple[str, str], _Timer] = field(default_factory=dict)
    enquiries: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)  # lead -> new ones

    def enquired(self, envelope: Envelope[Any]) -> None:
        row = _enquiry(envelope)
        self.enquiries.setdefault(row["lead_id"], []).append(row)

    def open(self, opened: Task, facts: dict[str, Any]) -> None:
        self.tasks[opened.lead_id] = opened
        self.new[opened.lead_id] = dict(facts)

    def save(self, task: Task, facts: dict[str, Any] | None = None) -> None:
        target = self.new if task.lead_id in self.new else self.changed
        target.setdefault(task.lead_id, {}).update(facts or {})

    def schedule(self, kind: str, task: Task, due_at: datetime, caused_by: Envelope[Any]) -> None:
        """The timer, remembering the event that started it (the breach's causation)."""
        key = str(task.lead_id)
        payload = {"causation_id": str(caused_by.event_id)}
        wanted = timers.Scheduled(kind, key, task.tenant_id, due_at, payload)
        self.timers[(kind, key)] = _Timer(wanted, scheduled_here=True)

    def cancel(self, kind: str, lead_id: UUID) -> None:
        key = (kind, str(lead_id))
        before = self.timers.get(key)
        self.timers[key] = _Timer(None, scheduled_here=before is not None and before.scheduled_here)

    def policy(self, envelope: Envelope[Any]) -> Policy:
        assert envelope.dealership_id is not None
        return self.policies[(envelope.tenant_id, envelope.dealership_id)]


def _ingested(batch: _Batch, envelope: Envelope[Any], now: datetime) -> list[Envelope[Any]]:
    """A new lead: open its first-contact task with an SLA due time.

    If a lead.duplicate overtook it and opened the task already, the lead's own time and
    facts are learnt now and the SLA timer moved (the task then equals the in-order one).
    """
    assert envelope.lead_id is not None and envelope.dealership_id is not None
    facts = _facts_from_ingested(envelope)
    person = envelope.payload.person
    # Intake says so (the person's earlier lead was closed as do-not-contact anywhere in the
    # funnel), or crm-queue's own list has them.
    listed = envelope.payload.do_not_contact or is_listed(
        batch.listed, envelope.tenant_id, person.email, person.phone
    )
    refused = channels_refused(envelope.payload.consent.model_dump())
    received_at = envelope.payload.received_at
    kind = envelope.payload.source.kind
    policy = batch.policy(envelope)
    task = batch.tasks.get(envelope.lead_id)
    if task is None:
        task = Task.open(
            lead_id=envelope.lead_id,
            tenant_id=envelope.tenant_id,
            dealership_id=envelope.dealership_id,
            received_at=received_at,
            policy=policy,
            now=now,
            correlation_id=envelope.correlation_id,
            source_kind=kind,
        )
        if listed:
            task.hold_do_not_contact()
        task.no_consent_channels = refused
        batch.open(task, facts)
        if task.awaits_first_contact:
            batch.schedule(SLA_TIMER, task, task.sla_due_at, envelope)
    if task.learn_lead(received_at, policy, envelope.correlation_id, kind):  # repeat first
        if listed:
            task.hold_do_not_contact()
        task.no_consent_channels = refused
        batch.save(task, facts)
        if task.awaits_first_contact:
            batch.schedule(SLA_TIMER, task, task.sla_due_at, envelope)
        else:
            batch.cancel(SLA_TIMER, task.lead_id)
            batch.cancel(POOL_TIMER, task.lead_id)
    return events.collect(task, causation=envelope)


def _duplicate(batch: _Batch, envelope: Envelope[Any], now: datetime) -> None:
    """The customer asked again: raise the open task (or open it, if this came first).

    A task opened here is provisional (`ingested` false): it takes the repeat's time until
    lead.ingested brings the lead's own. A repeat publishes nothing. The enquiry itself is
    recorded whatever the task's state (see `_merge_contacts`).
    """
    assert envelope.lead_id is not None and envelope.dealership_id is not None
    at = envelope.payload.received_at
    task = batch.tasks.get(envelope.lead_id)
    if task is None:
        task = Task.open(
            lead_id=envelope.lead_id,
            tenant_id=envelope.tenant_id,
            dealership_id=envelope.dealership_id,
            received_at=at,
            policy=batch.policy(envelope),
            now=now,
            ingested=False,
            # The repeat's, until lead.ingested brings the lead's own.
            correlation_id=envelope.correlation_id,
            source_kind=envelope.payload.source.kind,
        )
        batch.open(task, {})
        batch.schedule(SLA_TIMER, task, task.sla_due_at, envelope)
    else:
        was_in_pool = task.state == "pool"
        if task.raise_priority(at):
            batch.save(task)
            if was_in_pool and task.state != "pool":  # asked again: a new round, not the pool
                batch.cancel(POOL_TIMER, task.lead_id)
    task.pull_events()  # a repeat's own changes are not announced


async def on_lead_events(
    uow: CrmUnitOfWork, envelopes: Sequence[Envelope[Any]], now: datetime
) -> None:
    """Handle lead.ingested and lead.duplicate events, in their order, in one transaction."""
    for _ in range(_ROUNDS - 1):
        try:
            await _round(uow, envelopes, now)
            return
        except _Raced:
            continue
    await _round(uow, envelopes, now, last=True)


async def _round(
    uow: CrmUnitOfWork, envelopes: Sequence[Envelope[Any]], now: datetime, *, last: bool = False
) -> None:
    async with uow:
        claimed = await uow.claim_many(CONSUMER, (e.event_id for e in envelopes))
        todo: list[Envelope[Any]] = []
        for envelope in envelopes:  # each claimed id once, in the batch's order
            if envelope.event_id in claimed:
                claimed.discard(envelope.event_id)
                if not for_consultant(envelope):
                    todo.append(envelope)
        if not todo:
            await uow.commit()  # every event handled before: nothing to write
            return
        pairs = [(e.tenant_id, e.dealership_id) for e in todo if e.dealership_id is not None]
        await uow.repo.note_dealerships(pairs, _places(todo))
        loaded = await uow.repo.get_many((e.tenant_id, e.lead_id) for e in todo if e.lead_id)
        batch = _Batch(
            policies=await uow.repo.policies(pairs),
            listed=await uow.repo.do_not_contact_among(
                (e.tenant_id, e.payload.person.email, e.payload.person.phone)
                for e in todo
                if e.event_type == INGESTED
            ),
            tasks=dict(loaded),
            loaded_attempts={lead: len(t.attempts) for lead, t in loaded.items()},
        )
        keys = [(e.tenant_id, e.lead_id) for e in todo if e.lead_id]
        erased = await erased_among(uow.session, keys)
        for envelope in todo:
            if envelope.event_type == INGESTED:
                if envelope.lead_id in erased:
                    envelope = _without_person(envelope)
                for e in _ingested(batch, envelope, now):
                    uow.emit(e)
            elif envelope.event_type == DUPLICATE:
                _duplicate(batch, envelope, now)
            else:
                raise ValueError(f"crm-queue does not handle {envelope.event_type}")
            if envelope.lead_id not in erased:  # an erased person's enquiries are not kept
                batch.enquired(envelope)
        for lead in erased:  # the person asked to be erased before their lead got here
            task = batch.tasks.get(lead)
            if task is not None and task.mark_do_not_contact():
                batch.save(task)
                batch.cancel(SLA_TIMER, lead)
        await _merge_contacts(uow, batch)
        await _write(uow, batch, todo, last=last)
        # lead.dead came first: the task, now written, is left as that event would have.
        tenants = {lead: tenant for tenant, lead in keys}
        for lead, listed in (await dead_among(uow.session, keys)).items():
            await stop_contact(uow, tenants[lead], lead, listed=listed)
        await uow.commit()


async def stop_contact(uow: CrmUnitOfWork, tenant_id: str, lead_id: UUID, *, listed: bool) -> None:
    """A dead lead's task (if crm-queue has it) is never contacted again: marked
    do-not-contact, its timers cancelled; `listed`: its person joins the do-not-contact list."""
    task = await uow.repo.get(tenant_id, lead_id)
    if task is None:
        return
    if task.mark_do_not_contact():
        await uow.repo.save(task)
    for kind in (SLA_TIMER, POOL_TIMER):
        await timers.cancel(uow.session, kind=kind, key=str(lead_id))
    if listed:
        person = await uow.repo.person(tenant_id, lead_id)
        await uow.repo.mark_do_not_contact(
            tenant_id, lead_id, person.get("email"), person.get("phone")
        )


def _places(todo: list[Envelope[Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    """The (timezone, country) of each dealership the batch's lead.ingested events name."""
    places = {}
    for e in todo:
        place = getattr(e.payload, "dealership", None) if e.event_type == INGESTED else None
        if place is not None and e.dealership_id is not None:
            places[(e.tenant_id, e.dealership_id)] = (place.timezone, place.country)
    return places


async def _merge_contacts(uow: CrmUnitOfWork, batch: _Batch) -> None:
    """The person of each task that got an enquiry, merged from all its enquiries (those
    recorded before, read in one query under the task's lock, and this batch's): a repeat's new
    phone or e-mail joins the lead's, in whatever order the events came."""
    if not batch.enquiries:
        return
    known = await uow.repo.enquiries_of(
        (batch.tasks[lead].tenant_id, lead) for lead in batch.enquiries if lead not in batch.new
    )
    for lead, fresh in batch.enquiries.items():
        seen = {e["enquiry_id"] for e in known.get(lead, [])}
        every = known.get(lead, []) + [e for e in fresh if e["enquiry_id"] not in seen]
        person = merged_person(every)
        if person is not None:
            batch.save(batch.tasks[lead], {"person": person})


async def _write(
    uow: CrmUnitOfWork, batch: _Batch, todo: list[Envelope[Any]], *, last: bool
) -> None:
    if batch.new:
        inserted = await uow.repo.add_many(
            [(batch.tasks[lead], facts) for lead, facts in batch.new.items()]
        )
        missed = set(batch.new) - inserted
        if missed:
            owners = await uow.repo.owners(missed)
            tenants = {e.lead_id: e.tenant_id for e in todo}
            foreign = [lead for lead in missed if owners.get(lead) != tenants[lead]]
            if foreign:
                raise ForeignLead(f"lead {foreign[0]} belongs to another tenant")
            # Its lead.duplicate or lead.ingested, on another replica, opened it meanwhile.
            if last:
                raise RuntimeError(f"tasks of leads {sorted(missed)} keep being inserted")
            raise _Raced
    await uow.repo.add_enquiries([e for rows in batch.enquiries.values() for e in rows])
    if batch.changed:
        await uow.repo.save_many(
            [
                (batch.tasks[lead], facts, batch.loaded_attempts[lead])
                for lead, facts in batch.changed.items()
            ]
        )
    cancelled = [k for k, t in batch.timers.items() if t.scheduled is None]
    await timers.cancel_many(
        uow.session, [k for k in cancelled if not batch.timers[k].scheduled_here]
    )
    await timers.cancel_many(
        uow.session, [k for k in cancelled if batch.timers[k].scheduled_here], fired_too=True
    )
    await timers.schedule_many(
        uow.session, [t.scheduled for t in batch.timers.values() if t.scheduled is not None]
    )

"""recovery's handlers: losses and enquiries from the funnel, erasures, and the CRM
department's commands.

Each runs in one unit of work: the runs, their attempts and the outbox events commit together.
Consumers claim the event id in the inbox first, so a redelivery is a no-op. Whatever starts or
ends runs by who the person is first locks the person (`RecoveryRepository.lock_people`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from recovery.domain.cadence import Cadences
from recovery.domain.contact import keys_of
from recovery.domain.events import Attempted, DomainEvent
from recovery.domain.recovery import Loss, Outcome, OutcomeDetails, Recovery, Refused
from recovery.service_layer.events import to_envelope
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.contracts import Envelope, LostReasonCode

CONSUMER = "recovery"


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Actor:
    tenant_id: str
    subject: str
    dealerships: tuple[str, ...] | None  # None: every dealership of the tenant
    is_manager: bool

    def sees(self, dealership_id: str | None) -> bool:
        return self.dealerships is None or dealership_id in self.dealerships


def _lead(lead_id: UUID | None) -> str | None:
    return f"lead:{lead_id}" if lead_id else None


async def publish(
    uow: RecoveryUnitOfWork, r: Recovery, cause: Envelope[Any] | None = None, *, new: bool = False
) -> None:
    """Write the run and its attempts, then hand its events to the outbox. The envelopes are
    built first and emitted last, so a failure leaves nothing emitted."""
    events = r.pull_events()
    envelopes = [to_envelope(e, causation=cause) for e in events]
    await (uow.repo.add(r) if new else uow.repo.save(r))
    await uow.repo.add_attempts(attempt_rows(r, events))
    if r.state == "scheduled":
        await uow.repo.notify_scanner()
    for envelope in envelopes:
        uow.emit(envelope)


def attempt_rows(
    r: Recovery, events: Iterable[DomainEvent]
) -> list[tuple[Recovery, dict[str, Any]]]:
    """The `recovery_attempt` rows a run's events record."""
    return [
        (
            r,
            {
                "attempt_id": uuid4(),
                "step": e.step,
                "channel": e.channel,
                "outcome": e.outcome,
                "agent_id": e.agent_id,
                "note": None if r.scrubbed_at else e.note,
                "at": e.attempted_at,
            },
        )
        for e in events
        if isinstance(e, Attempted)
    ]


async def _do_not_contact(
    uow: RecoveryUnitOfWork,
    tenant_id: str,
    keys: Iterable[str | None],
    now: datetime,
    cause: Envelope[Any] | None,
    *,
    but: UUID | None = None,
) -> None:
    """The person must never be contacted again: remember their keys, stop every run of
    theirs at once and forget who they are (the keys are locked by the caller)."""
    email_key, phone_key = keys
    await uow.repo.block(tenant_id, (email_key, phone_key))
    for other in await uow.repo.active_of_person(
        tenant_id, email_key=email_key, phone_key=phone_key
    ):
        if other.recovery_id != but:
            other.stop("do_not_contact", now)
            await publish(uow, other, cause)
            await uow.repo.scrub_attempts(tenant_id, [other.recovery_id])


# -- events from the funnel -------------------------------------------------------------------


def _starts_at(lost_at: datetime, postponed_until: Any) -> datetime:
    """A postponed purchase: the cadence counts from the stated date (at the loss's time)."""
    if postponed_until is None:
        return lost_at
    return max(lost_at, datetime.combine(postponed_until, lost_at.timetz()))


async def on_lost(
    uow: RecoveryUnitOfWork,
    envelope: Envelope[Any],
    now: datetime,
    origin: Literal["lead", "prospect"],
) -> None:
    """A lead (`lead.lost`, including one crm-queue closed from its pool) or a prospect
    (`prospect.lost`) written off: start following it up per its reason."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None
        p, tenant, lead = envelope.payload, envelope.tenant_id, envelope.lead_id
        person = p.person.model_dump(mode="json", exclude_none=True) if p.person else {}
        email_key, phone_key = keys_of(person)
        own = await uow.repo.contact(tenant, lead)  # the lead's lead.ingested, if it came
        if own is not None:
            email_key, phone_key = email_key or own.email_key, phone_key or own.phone_key
        await uow.repo.lock_people(tenant, (email_key, phone_key, _lead(lead)))
        earlier = await uow.repo.of_lead(tenant, lead)
        if any(r.lost_at >= p.lost_at for r in earlier):
            await uow.commit()  # this loss, or a newer one, is followed already
            return
        for r in earlier:
            if r.is_active:
                r.supersede(now)
                await publish(uow, r, envelope)
        consent = p.consent.model_dump(mode="json", exclude_none=True) if p.consent else {}
        if not consent and own is not None and own.consent:
            consent = dict(own.consent)
        loss = Loss(
            recovery_id=uuid4(),
            tenant_id=tenant,
            dealership_id=envelope.dealership_id,
            lead_id=lead,
            origin=origin,
            reason_code=LostReasonCode(p.reason_code),
            lost_at=p.lost_at,
            starts_at=_starts_at(p.lost_at, getattr(p, "postponed_until", None)),
            do_not_contact=p.do_not_contact,
            person=person,
            email_key=email_key,
            phone_key=phone_key,
            consent=consent,
            enquiries=[e.model_dump(mode="json", exclude_none=True) for e in p.enquiries],
            language=getattr(p, "language", None),
            consultant_id=getattr(p, "consultant_id", None),
            unusable_channels=frozenset(p.unusable_channels),
            reached=p.reached,
        )
        r = Recovery.start(
            loss,
            await uow.repo.cadences(tenant),
            now,
            sequence=max((e.sequence for e in earlier), default=0),
            erased=await uow.repo.is_erased(tenant, lead),
            blocked=await uow.repo.is_blocked(tenant, (email_key, phone_key)),
            returned_to=await uow.repo.asked_again(tenant, lead, email_key, phone_key, p.lost_at),
        )
        await publish(uow, r, envelope, new=True)
        if r.outcome == "do_not_contact":
            await _do_not_contact(
                uow, tenant, (email_key, phone_key), now, envelope, but=r.recovery_id
            )
        await uow.commit()


async def on_lead_lost(uow: RecoveryUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    await on_lost(uow, envelope, now, "lead")


async def on_prospect_lost(uow: RecoveryUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    await on_lost(uow, envelope, now, "prospect")


async def _end_returned(
    uow: RecoveryUnitOfWork, contact: Any, now: datetime, cause: Envelope[Any]
) -> None:
    """The person of `contact` asked again: their runs lost before that enquiry end at once,
    counted as returned on their own."""
    runs = await uow.repo.active_of_person(
        contact.tenant_id,
        email_key=contact.email_key,
        phone_key=contact.phone_key,
        lead_ids=[contact.previous_lead_id] if contact.previous_lead_id else [],
    )
    for r in runs:
        if r.lead_id != contact.lead_id and r.lost_at < contact.last_enquiry_at:
            r.returned(contact.lead_id, now)
            await publish(uow, r, cause)


async def on_lead_ingested(uow: RecoveryUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    await on_leads_ingested(uow, [envelope], now)


async def on_leads_ingested(
    uow: RecoveryUnitOfWork, envelopes: list[Envelope[Any]], now: datetime
) -> None:
    """New leads, a batch in one transaction (shared.messaging.batch): remember how to recognise
    each person (hashed keys) and their consent; any run of the same person (or of the lead it
    follows) lost before ends: they came back. The batch's people are locked at once, and what
    is read for every lead (erasures, blocked contacts, runs still going) is read once."""
    async with uow:
        fresh = await uow.claim_many(CONSUMER, [e.event_id for e in envelopes])
        todo: list[tuple[Envelope[Any], str | None, str | None]] = []
        for envelope in envelopes:  # a batch may hold one event twice
            if envelope.event_id in fresh:
                fresh.discard(envelope.event_id)
                assert envelope.lead_id is not None
                todo.append((envelope, *keys_of(envelope.payload.person.model_dump(mode="json"))))
        if not todo:
            await uow.commit()
            return
        keys = {(e.tenant_id, k) for e, *ks in todo for k in ks if k}
        leads = {(e.tenant_id, e.lead_id) for e, *_ in todo if e.lead_id}
        follows = {(e.tenant_id, e.payload.previous_lead_id) for e, *_ in todo}
        follows = {(t, lead) for t, lead in follows if lead is not None}
        await uow.repo.lock_people_of(keys | {(t, f"lead:{lead}") for t, lead in leads | follows})
        erased = await uow.repo.erased_of(leads)
        blocked = await uow.repo.blocked_of(keys)
        runs = await uow.repo.active_of_people(keys=keys, lead_ids=leads | follows)
        for envelope, email_key, phone_key in todo:
            await _ingested(uow, envelope, email_key, phone_key, now, erased, blocked, runs)
        await uow.commit()


async def _ingested(
    uow: RecoveryUnitOfWork,
    envelope: Envelope[Any],
    email_key: str | None,
    phone_key: str | None,
    now: datetime,
    erased: set[tuple[str, UUID]],
    blocked: set[tuple[str, str]],
    runs: list[Recovery],
) -> None:
    """One lead of `on_leads_ingested`; `runs` are the batch's runs still going, kept up to
    date as its leads change them."""
    assert envelope.lead_id is not None
    p, tenant, lead = envelope.payload, envelope.tenant_id, envelope.lead_id
    consent = p.consent.model_dump(mode="json", exclude_none=True)
    if (tenant, lead) in erased:
        email_key = phone_key = None
        consent = {}
    contact = await uow.repo.note_enquiry(
        tenant,
        lead,
        p.received_at,
        email_key=email_key,
        phone_key=phone_key,
        previous_lead_id=p.previous_lead_id,
        consent=consent,
        ingested=True,
    )
    is_blocked = any((tenant, k) in blocked for k in (email_key, phone_key) if k)
    for r in runs:
        if r.tenant_id == tenant and r.lead_id == lead and r.is_active:
            r.learn_contact(consent, email_key, phone_key)
            if is_blocked:
                r.stop("do_not_contact", now)
            await publish(uow, r, envelope)
    for r in runs:
        if (
            r.tenant_id == tenant
            and r.is_active
            and r.lead_id != contact.lead_id
            and r.lost_at < contact.last_enquiry_at
            and (
                (contact.email_key and r.email_key == contact.email_key)
                or (contact.phone_key and r.phone_key == contact.phone_key)
                or (contact.previous_lead_id and r.lead_id == contact.previous_lead_id)
            )
        ):
            r.returned(contact.lead_id, now)
            await publish(uow, r, envelope)


async def on_lead_duplicate(
    uow: RecoveryUnitOfWork, envelope: Envelope[Any], now: datetime
) -> None:
    """One more enquiry on an open lead: its person asked again."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        assert envelope.lead_id is not None
        tenant, lead = envelope.tenant_id, envelope.lead_id
        known = await uow.repo.contact(tenant, lead)
        keys = (known.email_key, known.phone_key, _lead(known.previous_lead_id)) if known else ()
        await uow.repo.lock_people(tenant, (*keys, _lead(lead)))
        contact = await uow.repo.note_enquiry(tenant, lead, envelope.payload.received_at)
        if contact.ingested:  # else its lead.ingested, still to come, does it
            await _end_returned(uow, contact, now, envelope)
        await uow.commit()


async def on_person_erased(uow: RecoveryUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    """Every run of these leads stops at once and forgets the person (and so will any loss of
    theirs that arrives later)."""
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        tenant = envelope.tenant_id
        lead_ids = sorted(set(envelope.payload.lead_ids))
        await uow.repo.lock_people(tenant, [_lead(lead) for lead in lead_ids])
        stopped: list[UUID] = []
        for lead in lead_ids:
            await uow.repo.mark_erased(tenant, lead, envelope.payload.erased_at)
            for r in await uow.repo.of_lead(tenant, lead):
                r.stop("erased", now)
                await publish(uow, r, envelope)
                stopped.append(r.recovery_id)
        await uow.repo.scrub_attempts(tenant, stopped)
        await uow.commit()


# -- the CRM department -----------------------------------------------------------------------


async def _peek(uow: RecoveryUnitOfWork, actor: Actor, recovery_id: UUID) -> Recovery:
    r = await uow.repo.get(actor.tenant_id, recovery_id, lock=False)
    if r is None or not actor.sees(r.dealership_id):
        raise NotFound(f"no follow-up {recovery_id} in your dealerships")
    return r


async def claim(
    uow: RecoveryUnitOfWork, actor: Actor, recovery_id: UUID, now: datetime, lease: timedelta
) -> None:
    """A lease on the follow-up: nobody else calls the person meanwhile."""
    async with uow:
        await _peek(uow, actor, recovery_id)
        r = await uow.repo.get(actor.tenant_id, recovery_id)
        assert r is not None
        r.claim(actor.subject, now, lease)
        await uow.repo.save(r)
        await uow.commit()


async def record_outcome(
    uow: RecoveryUnitOfWork,
    actor: Actor,
    recovery_id: UUID,
    outcome: Outcome,
    now: datetime,
    *,
    channel: str | None,
    note: str | None,
    details: OutcomeDetails,
) -> None:
    async with uow:
        peek = await _peek(uow, actor, recovery_id)
        await uow.repo.lock_people(
            actor.tenant_id, (peek.email_key, peek.phone_key, _lead(peek.lead_id))
        )
        r = await uow.repo.get(actor.tenant_id, recovery_id)
        assert r is not None
        keys = (r.email_key, r.phone_key)
        r.record(
            actor.subject,
            outcome,
            now,
            await uow.repo.cadences(actor.tenant_id),
            channel=channel,
            note=note,
            details=details,
            as_manager=actor.is_manager,
        )
        await publish(uow, r)
        if r.outcome == "do_not_contact":
            await uow.repo.scrub_attempts(actor.tenant_id, [r.recovery_id])
            await _do_not_contact(uow, actor.tenant_id, keys, now, None, but=r.recovery_id)
        await uow.commit()


async def put_cadences(uow: RecoveryUnitOfWork, actor: Actor, config: dict[str, Any]) -> Cadences:
    """The tenant's cadences; runs already started keep the days they started with."""
    cadences = Cadences.from_json(config)
    async with uow:
        await uow.repo.put_cadences(actor.tenant_id, cadences, actor.subject)
        await uow.commit()
    return cadences


__all__ = ["Actor", "NotFound", "Refused"]

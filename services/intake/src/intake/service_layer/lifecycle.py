"""Intake follows where each lead is in the funnel, and whether its person asked never to be
contacted, from the funnel's events.

Each event is a step kept with its time (`intake.domain.stages`): qualified or reactivated
makes the lead a prospect, a loss closes it (a later reactivation opens it again), a sale or
recovery's `lead.dead` closes it for good. While it is in first contact or an open prospect a
new enquiry of the person merges into it (as a repeat for crm-queue's task, or as an enquiry
for the consultant); once closed, a new enquiry makes a new lead that follows it
(`previous_lead_id`). The stage is computed from every step by their times, so the events of
one lead give the same row whatever their order, and a redelivery changes nothing (the inbox
skips it anyway). Do-not-contact only ever goes one way.

Intake hears of a step only after it happened, and judges again, by the steps' times, every
enquiry merged into the lead and not made a lead of its own:
- one that came while the lead was closed becomes a new lead following it, as if intake had
  known at once (the later ones are its repeats);
- one merged as a first-contact repeat that came while the lead was a prospect already is
  published again, as the consultant's (`lead.duplicate` with stage `prospect`, same enquiry).
The person's de-duplication locks are held meanwhile, so no enquiry of theirs is being merged
at that moment.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select, update

from intake.adapters.tables import lead
from intake.domain import dedup, stages
from intake.domain.model import Contact
from intake.service_layer.receive import UowFactory
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.contracts import (
    ConsentV1,
    Envelope,
    LeadDuplicateV1,
    LeadIngestedV1,
    LostReasonCode,
    PersonV1,
    new_envelope,
)


def says_do_not_contact(envelope: Envelope[Any]) -> bool:
    """The event says the person must never be contacted again: a loss coded so (or flagged,
    by crm-queue or assignment), or recovery ending the lead for that reason."""
    p = envelope.payload
    if envelope.event_type in ("lead.lost", "prospect.lost"):
        return bool(getattr(p, "do_not_contact", False)) or (
            getattr(p, "reason_code", None) == LostReasonCode.NO_INTEREST_DO_NOT_CONTACT
        )
    if envelope.event_type == "lead.dead":
        return getattr(p, "reason", None) == "do_not_contact"
    return False


async def apply(uows: UowFactory, consumer: str, envelope: Envelope[Any]) -> None:
    kind = stages.KINDS.get(envelope.event_type)
    if envelope.lead_id is None or kind is None:
        return
    step = stages.Step(kind, envelope.occurred_at)
    async with uows() as uow:
        if await uow.claim(consumer, envelope.event_id):
            where = (lead.c.tenant_id == envelope.tenant_id, lead.c.id == envelope.lead_id)
            known = (
                await uow.session.execute(select(lead.c.email, lead.c.phone).where(*where))
            ).first()
            if known is not None:
                contact = Contact(email=known.email, phone=known.phone)
                await uow.repo.lock(
                    dedup.sorted_unique(dedup.person_lock_keys(envelope.tenant_id, contact))
                )
                row = (
                    await uow.session.execute(select(lead).where(*where).with_for_update())
                ).first()
                if row is not None:  # gone meanwhile (erased): nothing to follow
                    steps = stages.steps_of(row.stages)
                    if step not in steps:  # the same step again (a copy of the event): kept once
                        steps.append(step)
                    changed = (
                        await uow.session.execute(
                            update(lead)
                            .where(*where)
                            .values(
                                stages=[s.to_json() for s in steps],
                                status=stages.stage_of(steps),
                                # When it left first contact: the earliest step's time.
                                status_changed_at=func.least(
                                    func.coalesce(lead.c.status_changed_at, step.at), step.at
                                ),
                                do_not_contact=lead.c.do_not_contact
                                | says_do_not_contact(envelope),
                            )
                            .returning(lead)
                        )
                    ).one()
                    await _judge_merged(uow, envelope, changed, steps)
        await uow.commit()


async def _judge_merged(
    uow: IntakeUnitOfWork, cause: Envelope[Any], target: Any, steps: list[stages.Step]
) -> None:
    """Each enquiry merged into `target` (and not a lead of its own), by what the lead was
    when it came: a new lead if it was closed, the consultant's if it was a prospect."""
    late: list[Any] = []
    to_prospect: list[Any] = []
    for row in await uow.repo.pending_merges(target.tenant_id, target.id):
        then = stages.stage_of(steps, before=row.received_at)
        if then == "closed":
            late.append(row)
        elif then == "prospect" and row.stage != "prospect":
            to_prospect.append(row)
    if to_prospect:
        await _to_consultant(uow, cause, target, to_prospect)
    if late:
        await _follow_late_enquiries(uow, cause, target, late)


async def _to_consultant(
    uow: IntakeUnitOfWork, cause: Envelope[Any], target: Any, rows: list[Any]
) -> None:
    """Enquiries merged as first-contact repeats into a lead that was a prospect already when
    they came: published again for the consultant (same enquiry id, stage `prospect`)."""
    sequence = target.sequence
    for row in rows:
        sequence += 1
        enquiry = LeadDuplicateV1.model_validate(row.enquiry).model_copy(
            update={"sequence": sequence, "stage": "prospect"}
        )
        _emit_on(uow, cause, target, enquiry)
    await uow.session.execute(
        update(lead)
        .where(lead.c.tenant_id == target.tenant_id, lead.c.id == target.id)
        .values(sequence=sequence)
    )
    await uow.repo.set_stage(target.tenant_id, [row.id for row in rows], "prospect")


async def _follow_late_enquiries(
    uow: IntakeUnitOfWork, cause: Envelope[Any], closed: Any, late: list[Any]
) -> None:
    """Enquiries merged into `closed` while it was closed become a new lead following it."""
    earlier = await uow.repo.promoted_from(closed.tenant_id, closed.id)
    if earlier is not None:
        # A later closing event came first and made the new lead already (it found fewer late
        # enquiries): these join it, so the person still has one new lead whatever the order.
        await _repeats(uow, cause, earlier, late)
        return
    new_id = uuid4()
    first = LeadDuplicateV1.model_validate(late[0].enquiry)
    dealership_id: UUID = late[0].dealership_id or closed.dealership_id
    person = first.person or PersonV1(email=closed.email, phone=closed.phone)
    consent = first.consent or ConsentV1()
    await uow.repo.insert_leads(
        [
            {
                "id": new_id,
                "tenant_id": closed.tenant_id,
                "dealership_id": dealership_id,
                "source_id": UUID(first.source.source_id),
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "phone": person.phone,
                "other_phones": list(person.other_phones),
                "vehicle": first.vehicle.model_dump(mode="json") if first.vehicle else None,
                "trade_ins": [v.model_dump(mode="json") for v in first.trade_ins],
                "comments": first.comments,
                "consent": consent.model_dump(mode="json"),
                "campaign": first.source.campaign,
                "channel": first.source.channel,
                "lead_type": first.lead_type,
                "source_lead_id": first.source_lead_id,
                "requested_at": first.requested_at,
                "received_at": first.received_at,
                "last_enquiry_at": max(row.received_at for row in late),
                "enquiry_count": len(late),
                "status": "open",
                "sequence": len(late),
                "previous_lead_id": closed.id,
                "do_not_contact": closed.do_not_contact,
            }
        ]
    )
    await uow.repo.promote(closed.tenant_id, [row.id for row in late], new_id)
    ingested = LeadIngestedV1(
        sequence=1,
        source=first.source,
        received_at=first.received_at,
        requested_at=first.requested_at,
        person=person,
        vehicle=first.vehicle,
        trade_ins=first.trade_ins,
        comments=first.comments,
        consent=consent,
        lead_type=first.lead_type,
        source_lead_id=first.source_lead_id,
        previous_lead_id=closed.id,
        do_not_contact=closed.do_not_contact,
    )
    # The new lead's own chain (its id is the correlation); the closing event is the cause.
    where = {
        "tenant_id": closed.tenant_id,
        "dealership_id": str(dealership_id),
        "causation_id": str(cause.event_id),
    }
    uow.emit(new_envelope(ingested, lead_id=new_id, **where))
    for sequence, row in enumerate(late[1:], start=2):
        # The new lead is in first contact: its repeats are crm-queue's.
        repeat = LeadDuplicateV1.model_validate(row.enquiry).model_copy(
            update={"sequence": sequence, "stage": "first_contact"}
        )
        uow.emit(new_envelope(repeat, lead_id=new_id, **where))


async def _repeats(
    uow: IntakeUnitOfWork, cause: Envelope[Any], target: Any, late: list[Any]
) -> None:
    """Late enquiries added to the lead an earlier promotion made: one lead.duplicate each,
    the consultant's if that lead was a prospect when the enquiry came."""
    sequence = target.sequence
    steps = stages.steps_of(target.stages)
    for row in late:
        sequence += 1
        then = stages.stage_of(steps, before=row.received_at)
        repeat = LeadDuplicateV1.model_validate(row.enquiry).model_copy(
            update={
                "sequence": sequence,
                "stage": "prospect" if then == "prospect" else "first_contact",
            }
        )
        _emit_on(uow, cause, target, repeat)
    await uow.session.execute(
        update(lead)
        .where(lead.c.tenant_id == target.tenant_id, lead.c.id == target.id)
        .values(
            sequence=sequence,
            enquiry_count=lead.c.enquiry_count + len(late),
            last_enquiry_at=func.greatest(
                lead.c.last_enquiry_at, max(row.received_at for row in late)
            ),
        )
    )
    await uow.repo.promote(target.tenant_id, [row.id for row in late], target.id)


def _emit_on(uow: IntakeUnitOfWork, cause: Envelope[Any], target: Any, enquiry: Any) -> None:
    """Publish an enquiry event on the lead `target`, caused by the funnel event `cause`."""
    uow.emit(
        new_envelope(
            enquiry,
            tenant_id=target.tenant_id,
            dealership_id=str(target.dealership_id),
            lead_id=target.id,
            causation_id=str(cause.event_id),
        )
    )

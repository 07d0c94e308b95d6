"""Intake follows whether a lead is still in first contact, and whether its person asked never
to be contacted, from the funnel's events.

Qualified, lost, won, dead or reactivated: each means the lead left first contact for good (a
reactivated lead is a prospect of assignment's, not a lead to call back), so a new enquiry of
the person makes a new lead that follows it (`previous_lead_id`) instead of merging into it.
Both facts only ever go one way (open to closed, allowed to do-not-contact), so the events of
one lead give the same row whatever their order, and a redelivery changes nothing (the inbox
skips it anyway).

Intake hears of a closing only after it happened: an enquiry that came in between was merged
into the lead (and crm-queue, whose task is closed, would call nobody). When the closing is
learnt, such enquiries (received after the closing's time) become a new lead that follows the
closed one, as if intake had known at once; the later ones are its repeats. The person's
de-duplication locks are held meanwhile, so no enquiry of theirs is being merged at that moment.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select, update

from intake.adapters.tables import lead
from intake.domain import dedup
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
    if envelope.lead_id is None:
        return
    at = envelope.occurred_at
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
                closed = (
                    await uow.session.execute(
                        update(lead)
                        .where(*where)
                        .values(
                            status="closed",
                            # When it left first contact: the earliest closing event's time.
                            status_changed_at=func.least(
                                func.coalesce(lead.c.status_changed_at, at), at
                            ),
                            do_not_contact=lead.c.do_not_contact | says_do_not_contact(envelope),
                        )
                        .returning(lead)
                    )
                ).first()
                if closed is not None:  # gone meanwhile (erased): nothing to follow
                    await _follow_late_enquiries(uow, envelope, closed)
        await uow.commit()


async def _follow_late_enquiries(uow: IntakeUnitOfWork, cause: Envelope[Any], closed: Any) -> None:
    """Enquiries merged into `closed` after it had closed become a new lead following it."""
    late = await uow.repo.late_merges(closed.tenant_id, closed.id, closed.status_changed_at)
    if not late:
        return
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
        repeat = LeadDuplicateV1.model_validate(row.enquiry).model_copy(
            update={"sequence": sequence}
        )
        uow.emit(new_envelope(repeat, lead_id=new_id, **where))


async def _repeats(
    uow: IntakeUnitOfWork, cause: Envelope[Any], target: Any, late: list[Any]
) -> None:
    """Late enquiries added to the lead an earlier promotion made: one lead.duplicate each."""
    sequence = target.sequence
    for row in late:
        sequence += 1
        repeat = LeadDuplicateV1.model_validate(row.enquiry).model_copy(
            update={"sequence": sequence}
        )
        uow.emit(
            new_envelope(
                repeat,
                tenant_id=target.tenant_id,
                dealership_id=str(target.dealership_id),
                lead_id=target.id,
                causation_id=str(cause.event_id),
            )
        )
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

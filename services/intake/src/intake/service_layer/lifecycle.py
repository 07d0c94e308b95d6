"""Intake follows whether a lead is still in first contact, and whether its person asked never
to be contacted, from the funnel's events.

Qualified, lost, won, dead or reactivated: each means the lead left first contact for good (a
reactivated lead is a prospect of assignment's, not a lead to call back), so a new enquiry of
the person makes a new lead that follows it (`previous_lead_id`) instead of merging into it.
Both facts only ever go one way (open to closed, allowed to do-not-contact), so the events of
one lead give the same row whatever their order, and a redelivery changes nothing (the inbox
skips it anyway).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update

from intake.adapters.tables import lead
from intake.service_layer.receive import UowFactory
from shared.contracts import Envelope, LostReasonCode


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
            await uow.session.execute(
                update(lead)
                .where(lead.c.tenant_id == envelope.tenant_id, lead.c.id == envelope.lead_id)
                .values(
                    status="closed",
                    # When it left first contact: the earliest closing event's time.
                    status_changed_at=func.least(func.coalesce(lead.c.status_changed_at, at), at),
                    do_not_contact=lead.c.do_not_contact | says_do_not_contact(envelope),
                )
            )
        await uow.commit()

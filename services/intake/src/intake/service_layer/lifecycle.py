"""Intake follows whether a lead is open: lost, won or dead closes it; reactivated reopens it.

Events of one lead may arrive out of order: a change older than the last one applied is
ignored (compared by the event's occurred_at).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, update

from intake.adapters.tables import lead
from intake.service_layer.receive import UowFactory
from shared.contracts import Envelope

REOPENING = {"lead.reactivated"}


async def apply(uows: UowFactory, consumer: str, envelope: Envelope[Any]) -> None:
    if envelope.lead_id is None:
        return
    status = "open" if envelope.event_type in REOPENING else "closed"
    async with uows() as uow:
        if await uow.claim(consumer, envelope.event_id):
            await uow.session.execute(
                update(lead)
                .where(
                    lead.c.tenant_id == envelope.tenant_id,
                    lead.c.id == envelope.lead_id,
                    or_(
                        lead.c.status_changed_at.is_(None),
                        lead.c.status_changed_at < envelope.occurred_at,
                    ),
                )
                .values(status=status, status_changed_at=envelope.occurred_at)
            )
        await uow.commit()

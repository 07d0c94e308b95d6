"""lead.dead: recovery says no more contact with this lead, ever (cadence ended, a dead
outcome, or the person asked not to be contacted).

In one transaction: the inbox claim, the lead noted dead (its lead.ingested or lead.duplicate
may come later: `lead_events` applies the same on arrival), its task, if here, marked
do-not-contact (out of the queue, no attempt accepted, a repeat no longer raises it) and its
timers cancelled. The task keeps its state: normally closed already as lost. When the reason is
`do_not_contact` the person's email and phone join crm-queue's do-not-contact list, so their
next lead opens held.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_queue.adapters import dead
from crm_queue.service_layer.lead_events import CONSUMER, stop_contact
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared.contracts import Envelope


async def on_lead_dead(uow: CrmUnitOfWork, envelope: Envelope[Any], _now: datetime) -> None:
    assert envelope.lead_id is not None
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        tenant, lead = envelope.tenant_id, envelope.lead_id
        payload = envelope.payload
        await dead.mark_dead(uow.session, tenant, lead, payload.reason, payload.dead_at)
        await stop_contact(uow, tenant, lead, listed=payload.reason == dead.DO_NOT_CONTACT)
        await uow.commit()

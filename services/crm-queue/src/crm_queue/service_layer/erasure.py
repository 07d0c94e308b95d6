"""person.erased: scrub the person from crm-queue, now and from lead events arriving later.

The event names the leads (and the person's contacts as hashes, never in clear). In one
transaction: the inbox claim, the leads marked erased (lead.ingested can come after the
erasure: `lead_events` scrubs it on arrival), the tasks, attempt notes and do-not-contact
entries scrubbed, the SLA timers cancelled (nobody is to call), and crm-queue's own events
about those leads still in its outbox scrubbed. A task in the pool still closes when its time
is up, without the person.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from crm_queue.adapters import erasure
from crm_queue.service_layer.lead_events import CONSUMER, SLA_TIMER
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared import timers
from shared.contracts import Envelope
from shared.erasure import scrub_outbox

log = logging.getLogger(__name__)


async def on_person_erased(uow: CrmUnitOfWork, envelope: Envelope[Any], now: datetime) -> None:
    async with uow:
        if not await uow.claim(CONSUMER, envelope.event_id):
            return
        tenant = envelope.tenant_id
        lead_ids = sorted(set(envelope.payload.lead_ids))
        await erasure.mark_erased(uow.session, tenant, lead_ids, envelope.payload.erased_at)
        tasks, counts = await erasure.scrub(
            uow.session, tenant, lead_ids, envelope.payload.contact_hashes
        )
        for lead in tasks:
            await timers.cancel(uow.session, kind=SLA_TIMER, key=str(lead))
        counts["outbox_messages"] = await scrub_outbox(uow.session, tenant, lead_ids)
        await uow.commit()
    log.info("erasure %s carried out: %s", envelope.payload.erasure_id, counts)

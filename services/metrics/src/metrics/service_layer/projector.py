"""Projecting events into facts, live (one event per transaction) and from scratch (rebuild).

Live: the inbox claim, the event log row and the facts commit together, so a redelivered event
is a no-op and a crash at any line loses nothing. Rebuild: every fact table is emptied and
filled again from the event log in one transaction; the log is read in event-id order, i.e. in
no meaningful order, which the order-free facts do not mind.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from metrics.adapters import rollups
from metrics.adapters.lead_lock import lock_tenant_leads
from metrics.adapters.projection import Projection
from metrics.domain.facts import facts_of
from metrics.service_layer.unit_of_work import MetricsUnitOfWork
from shared.contracts import Envelope, parse_envelope

CONSUMER = "metrics"
FACT_TABLES = (
    "lead_fact",
    "loss_fact",
    "intake_fact",
    "recovery_fact",
    "erased_lead",
    *rollups.ROLLUP_TABLES,
)

log = logging.getLogger(__name__)


async def project(uow: MetricsUnitOfWork, envelope: Envelope[Any], raw: Mapping[str, Any]) -> bool:
    """Keep one event and apply its facts; False when it was already projected."""
    return envelope.event_id in await project_many(uow, [(envelope, raw)])


async def project_many(
    uow: MetricsUnitOfWork, events: Sequence[tuple[Envelope[Any], Mapping[str, Any]]]
) -> set[UUID]:
    """Keep events and apply their facts in one transaction; the ids of those projected now
    (the others were already, or are repeated in the batch).

    Every lead the batch touches (its events' and its erasures') is locked first, in one
    order; the rollups' change is written last (`Pending`), just before the commit."""
    async with uow:
        fresh = await uow.claim_many(CONSUMER, [e.event_id for e, _ in events])
        todo = []
        for envelope, raw in events:  # a batch may hold one event twice
            if envelope.event_id in fresh:
                fresh.discard(envelope.event_id)
                todo.append((envelope, raw, facts_of(envelope)))
        leads = {(f.tenant_id, f.lead_id) for _, _, f in todo if f.lead_id is not None}
        leads |= {(f.tenant_id, lead) for _, _, f in todo for lead in f.erased_leads}
        await lock_tenant_leads(uow.session, leads)
        projected = set()
        for envelope, raw, facts in todo:
            logged = await uow.projection.log(
                facts, envelope.event_type, envelope.event_version, envelope.occurred_at, dict(raw)
            )
            if logged:
                await uow.projection.apply(facts)
                projected.add(envelope.event_id)
        await uow.projection.flush()
        await uow.commit()
        return projected


_BATCH = text(
    "SELECT event_id, body FROM event_log WHERE event_id > :after ORDER BY event_id LIMIT :n"
)


async def rebuild(engine: AsyncEngine, *, batch_size: int = 2000) -> int:
    """Empty every projection and project the whole event log again. Returns the events read.

    One transaction: readers see the old figures until it commits, and live consumers wait on
    the fact tables' lock, then apply their event on top (their event is not in the snapshot
    read here, as it was not committed)."""
    count = 0
    async with engine.connect() as conn, conn.begin():
        await conn.execute(text(f"TRUNCATE {', '.join(FACT_TABLES)}"))
        projection = Projection(AsyncSession(bind=conn))
        after = "00000000-0000-0000-0000-000000000000"
        while True:
            rows = (await conn.execute(_BATCH, {"after": after, "n": batch_size})).all()
            if not rows:
                break
            batch = []
            for _event_id, body in rows:
                envelope = parse_envelope(json.dumps(body))
                batch.append(facts_of(envelope))
            await projection.apply_many(batch)
            count += len(rows)
            after = str(rows[-1][0])
            log.info("rebuild: %d events projected", count)
        await rollups.rebuild_all(conn)
    return count

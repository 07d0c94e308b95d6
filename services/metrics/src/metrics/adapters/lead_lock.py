"""One lock per lead, held to the end of the transaction.

Everything that must see a lead's other writes takes it: the rollup maintainer (its before and
after reads), the event log's "is this lead erased?" check and the erasure itself. Without it an
erasure and a late event of the same lead, handled at once by two consumers, each miss the
other's uncommitted row and the late event keeps the person's data in the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 15))")


async def lock_leads(session: AsyncSession, tenant_id: str, lead_ids: Iterable[UUID]) -> None:
    """Lock one tenant's leads (see `lock_tenant_leads`)."""
    await lock_tenant_leads(session, ((tenant_id, lead_id) for lead_id in lead_ids))


async def lock_tenant_leads(session: AsyncSession, leads: Iterable[tuple[str, UUID]]) -> None:
    """Lock (tenant, lead) pairs in one order (sorted), so two transactions never wait on each
    other in a circle. Taking a lock the transaction already holds is a no-op."""
    for tenant_id, lead_id in sorted(set(leads)):
        await session.execute(_LOCK, {"key": f"{tenant_id}/{lead_id}"})

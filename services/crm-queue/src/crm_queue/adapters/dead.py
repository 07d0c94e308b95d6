"""crm-queue's SQL for dead leads (lead.dead). Every query is tenant-scoped.

Two lead.dead of one lead (a redelivery is stopped by the inbox; two runs are not) end in the
same row whatever their order: the earliest time, its reason, and do-not-contact if either said.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

DO_NOT_CONTACT = "do_not_contact"

_MARK = text(
    "INSERT INTO dead_lead (tenant_id, lead_id, reason, do_not_contact, dead_at) "
    "VALUES (:tenant, :lead, :reason, :dnc, :at) ON CONFLICT (tenant_id, lead_id) DO UPDATE SET "
    "reason = CASE WHEN (EXCLUDED.dead_at, EXCLUDED.reason) < "
    "(dead_lead.dead_at, dead_lead.reason) THEN EXCLUDED.reason ELSE dead_lead.reason END, "
    "dead_at = LEAST(dead_lead.dead_at, EXCLUDED.dead_at), "
    "do_not_contact = dead_lead.do_not_contact OR EXCLUDED.do_not_contact"
)
_DEAD_AMONG = text(
    "SELECT lead_id, do_not_contact FROM dead_lead WHERE (tenant_id, lead_id) IN "
    "(SELECT * FROM unnest(CAST(:tenants AS text[]), CAST(:ids AS uuid[])))"
)


async def mark_dead(
    session: AsyncSession, tenant_id: str, lead_id: UUID, reason: str, at: datetime
) -> None:
    params = {
        "tenant": tenant_id,
        "lead": lead_id,
        "reason": reason,
        "dnc": reason == DO_NOT_CONTACT,
        "at": at,
    }
    await session.execute(_MARK, params)


async def dead_among(session: AsyncSession, keys: Iterable[tuple[str, UUID]]) -> dict[UUID, bool]:
    """Of these (tenant, lead), the dead leads, each with whether its person is do-not-contact."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = await session.execute(
        _DEAD_AMONG, {"tenants": [t for t, _ in wanted], "ids": [i for _, i in wanted]}
    )
    return {r.lead_id: bool(r.do_not_contact) for r in rows}

"""crm-queue's SQL for an erased person. Every query is tenant-scoped.

Tasks keep their numbers (times, state, attempts, outcome) and lose who the person is; the
do-not-contact list, kept by contact value, is found through the event's contact hashes
(`shared.contracts.contact_hash`: SHA-256 of `kind:value`) as well as by lead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_MARK = text(
    "INSERT INTO erased_lead (tenant_id, lead_id, erased_at) "
    "SELECT :tenant, unnest(CAST(:ids AS uuid[])), :at ON CONFLICT DO NOTHING"
)
_ERASED_AMONG = text(
    "SELECT tenant_id, lead_id FROM erased_lead WHERE (tenant_id, lead_id) IN "
    "(SELECT * FROM unnest(CAST(:tenants AS text[]), CAST(:ids AS uuid[])))"
)
# Nobody contacts an erased person again: the task leaves the queue, its next attempt goes.
_SCRUB_TASKS = text(
    "UPDATE task SET person = '{}'::jsonb, comments = NULL, warnings = '[]'::jsonb, "
    "vehicle = CASE WHEN jsonb_typeof(vehicle) = 'object' THEN vehicle - 'comments' - 'vin' "
    "ELSE vehicle END, "
    "do_not_contact = true, next_attempt_due_at = NULL, updated_at = now() "
    "WHERE tenant_id = :tenant AND lead_id = ANY(:ids) RETURNING lead_id"
)
_SCRUB_ATTEMPTS = text(
    "UPDATE attempt SET note = NULL WHERE tenant_id = :tenant AND lead_id = ANY(:ids) "
    "AND note IS NOT NULL"
)
# Each enquiry keeps where it came from and when (the counts); not who, nor what they wrote.
_SCRUB_ENQUIRIES = text(
    "UPDATE enquiry SET person = NULL, comments = NULL, trade_ins = '[]'::jsonb, "
    "vehicle = CASE WHEN jsonb_typeof(vehicle) = 'object' THEN vehicle - 'comments' - 'vin' "
    "ELSE vehicle END "
    "WHERE tenant_id = :tenant AND lead_id = ANY(:ids)"
)
_DROP_LISTED = text(
    "DELETE FROM do_not_contact WHERE tenant_id = :tenant AND (lead_id = ANY(:ids) OR "
    "encode(sha256(convert_to(kind || ':' || value, 'UTF8')), 'hex') = ANY(:hashes))"
)


async def mark_erased(
    session: AsyncSession, tenant_id: str, lead_ids: Collection[UUID], at: datetime
) -> None:
    if lead_ids:
        await session.execute(_MARK, {"tenant": tenant_id, "ids": list(lead_ids), "at": at})


async def erased_among(session: AsyncSession, keys: Iterable[tuple[str, UUID]]) -> set[UUID]:
    """Of these (tenant, lead), the leads erased."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    rows = await session.execute(
        _ERASED_AMONG, {"tenants": [t for t, _ in wanted], "ids": [i for _, i in wanted]}
    )
    return {r.lead_id for r in rows}


async def scrub(
    session: AsyncSession, tenant_id: str, lead_ids: Collection[UUID], hashes: Collection[str]
) -> tuple[list[UUID], dict[str, int]]:
    """Scrub the tasks, enquiries, attempt notes and do-not-contact entries: the leads whose
    task was scrubbed, and how many rows of each."""
    ids = list(lead_ids)
    params = {"tenant": tenant_id, "ids": ids}
    tasks = sorted(r.lead_id for r in await session.execute(_SCRUB_TASKS, params))
    attempts = await session.execute(_SCRUB_ATTEMPTS, params)
    enquiries = await session.execute(_SCRUB_ENQUIRIES, params)
    listed = await session.execute(_DROP_LISTED, params | {"hashes": list(hashes)})
    return tasks, {
        "tasks": len(tasks),
        "attempts": int(attempts.rowcount),  # type: ignore[attr-defined]
        "enquiries": int(enquiries.rowcount),  # type: ignore[attr-defined]
        "do_not_contact": int(listed.rowcount),  # type: ignore[attr-defined]
    }

"""Read-only SQL for the admin's views of leads, their enquiries and the reject log.

Every query filters on the tenant: another dealer group's ids find nothing (a 404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.adapters.adf_text import decode_body
from intake.adapters.tables import lead, lead_source, raw_payload, submission

RAW_PREVIEW_BYTES = 64_000  # of each payload in a lead's view; the whole one has its own route
MAX_RAW_PAYLOADS = 20  # per lead's view: the latest enquiries' payloads

_SUMMARY = (
    lead.c.id,
    lead.c.dealership_id,
    lead.c.source_id,
    lead.c.first_name,
    lead.c.last_name,
    lead.c.email,
    lead.c.phone,
    lead.c.status,
    lead.c.source_lead_id,
    lead.c.received_at,
    lead.c.last_enquiry_at,
    lead.c.enquiry_count,
)


async def leads(
    session: AsyncSession,
    tenant_id: str,
    *,
    source_id: UUID | None,
    status: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    query = select(*_SUMMARY).where(lead.c.tenant_id == tenant_id)
    if source_id is not None:
        query = query.where(lead.c.source_id == source_id)
    if status is not None:
        query = query.where(lead.c.status == status)
    if since is not None:
        query = query.where(lead.c.received_at >= since)
    query = query.order_by(lead.c.received_at.desc(), lead.c.id).limit(limit).offset(offset)
    return [dict(r._mapping) for r in await session.execute(query)]


async def lead_view(session: AsyncSession, tenant_id: str, lead_id: UUID) -> dict[str, Any] | None:
    """The lead, its enquiries (the first one and every merged repeat) and their payloads."""
    found = (
        await session.execute(
            select(lead).where(lead.c.tenant_id == tenant_id, lead.c.id == lead_id)
        )
    ).first()
    if found is None:
        return None
    view = dict(found._mapping)
    del view["tenant_id"]
    enquiries = await session.execute(
        select(
            submission.c.id,
            submission.c.outcome,
            submission.c.source_id,
            submission.c.received_at,
            submission.c.matched_on,
            submission.c.vehicle,
            submission.c.comments,
            submission.c.campaign,
            submission.c.raw_payload_id,
            submission.c.bulk_job_id,
        )
        .where(submission.c.tenant_id == tenant_id, submission.c.lead_id == lead_id)
        .order_by(submission.c.received_at, submission.c.id)
    )
    view["enquiries"] = [dict(r._mapping) for r in enquiries]
    raw_ids = [e["raw_payload_id"] for e in view["enquiries"] if e["raw_payload_id"]]
    view["raw_payloads"] = await _raw_payloads(session, tenant_id, raw_ids[-MAX_RAW_PAYLOADS:])
    return view


async def _raw_payloads(
    session: AsyncSession, tenant_id: str, ids: list[UUID]
) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = await session.execute(
        select(
            raw_payload.c.id,
            raw_payload.c.format,
            raw_payload.c.content_type,
            raw_payload.c.received_at,
            func.length(raw_payload.c.body).label("size"),
            func.substring(raw_payload.c.body, 1, RAW_PREVIEW_BYTES).label("start"),
        )
        .where(raw_payload.c.tenant_id == tenant_id, raw_payload.c.id.in_(set(ids)))
        .order_by(raw_payload.c.received_at, raw_payload.c.id)
    )
    return [
        {
            "id": r.id,
            "format": r.format,
            "content_type": r.content_type,
            "received_at": r.received_at,
            "size": r.size,
            "truncated": r.size > RAW_PREVIEW_BYTES,
            "body": decode_body(bytes(r.start)),
        }
        for r in rows
    ]


async def raw_payload_view(
    session: AsyncSession, tenant_id: str, raw_id: UUID
) -> dict[str, Any] | None:
    found = (
        await session.execute(
            select(raw_payload).where(
                raw_payload.c.tenant_id == tenant_id, raw_payload.c.id == raw_id
            )
        )
    ).first()
    if found is None:
        return None
    r = found._mapping
    return {
        "id": r["id"],
        "source_id": r["source_id"],
        "format": r["format"],
        "content_type": r["content_type"],
        "status": r["status"],
        "error": r["error"],
        "received_at": r["received_at"],
        "size": len(r["body"]),
        "truncated": False,
        "body": decode_body(bytes(r["body"])),
    }


async def rejections(
    session: AsyncSession,
    tenant_id: str,
    *,
    source_id: UUID | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Rejected leads, newest first, with the source and the reason: the log a dealer shows
    a provider to be credited for leads it paid for and could not use."""
    query = (
        select(
            submission.c.id,
            submission.c.source_id,
            lead_source.c.name.label("source_name"),
            submission.c.reason_code,
            submission.c.errors,
            submission.c.received_at,
            submission.c.raw_payload_id,
            submission.c.bulk_job_id,
        )
        .join(lead_source, lead_source.c.id == submission.c.source_id)
        .where(submission.c.tenant_id == tenant_id, submission.c.outcome == "rejected")
    )
    if source_id is not None:
        query = query.where(submission.c.source_id == source_id)
    if since is not None:
        query = query.where(submission.c.received_at >= since)
    query = query.order_by(submission.c.received_at.desc(), submission.c.id)
    return [dict(r._mapping) for r in await session.execute(query.limit(limit).offset(offset))]

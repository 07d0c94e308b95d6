"""The SQL of intake by e-mail: a source found by its address, the address an admin sets, and
the messages a source's admin reads. Every query but the address lookup takes the tenant."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake.adapters.repository import SourceRow, _source
from intake.adapters.tables import lead_source, raw_payload, submission


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().strip("<>").rpartition("@")
    return local, domain.lower()


async def source_for_address(
    session: AsyncSession, address: str, leads_domain: str
) -> SourceRow | None:
    """The active source taking mail at `address`: `<source id>@<leads domain>`, or the address
    an admin gave it. An address is one source's across tenants (a unique index)."""
    local, domain = split_address(address)
    query = select(lead_source).where(lead_source.c.active)
    if domain == leads_domain.lower():
        try:
            source_id = UUID(local)
        except ValueError:
            source_id = None
        if source_id is not None:
            row = (await session.execute(query.where(lead_source.c.id == source_id))).first()
            if row is not None:
                return _source(row)
    wanted = f"{local}@{domain}".lower()
    row = (
        await session.execute(query.where(func.lower(lead_source.c.email_address) == wanted))
    ).first()
    return _source(row) if row else None


async def source_address(session: AsyncSession, tenant_id: str, source_id: UUID) -> Any:
    """(exists, the address an admin set or None)."""
    return (
        await session.execute(
            select(lead_source.c.email_address).where(
                lead_source.c.tenant_id == tenant_id, lead_source.c.id == source_id
            )
        )
    ).first()


async def set_source_address(
    session: AsyncSession, tenant_id: str, source_id: UUID, address: str | None
) -> bool:
    done = await session.execute(
        update(lead_source)
        .where(lead_source.c.tenant_id == tenant_id, lead_source.c.id == source_id)
        .values(email_address=address)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def source_emails(
    session: AsyncSession, tenant_id: str, source_id: UUID, *, status: str | None, limit: int
) -> list[Any]:
    """A source's latest messages, with what came of each (one row per submission)."""
    recent = (
        select(raw_payload.c.id)
        .where(
            raw_payload.c.tenant_id == tenant_id,
            raw_payload.c.source_id == source_id,
            raw_payload.c.format == "email",
        )
        .order_by(raw_payload.c.received_at.desc())
        .limit(limit)
    )
    if status:
        recent = recent.where(raw_payload.c.status == status)
    rows = await session.execute(
        select(
            raw_payload.c.id,
            raw_payload.c.status,
            raw_payload.c.error,
            raw_payload.c.message_id,
            raw_payload.c.received_at,
            submission.c.id.label("submission_id"),
            submission.c.outcome,
            submission.c.reason_code,
            submission.c.lead_id,
            submission.c.errors,
        )
        .select_from(
            raw_payload.outerjoin(
                submission,
                (submission.c.raw_payload_id == raw_payload.c.id)
                & (submission.c.tenant_id == tenant_id),
            )
        )
        .where(raw_payload.c.tenant_id == tenant_id, raw_payload.c.id.in_(recent))
        .order_by(raw_payload.c.received_at.desc(), raw_payload.c.id)
    )
    return list(rows)


async def email_body(
    session: AsyncSession, tenant_id: str, source_id: UUID, raw_id: UUID
) -> bytes | None:
    body = (
        await session.execute(
            select(raw_payload.c.body).where(
                raw_payload.c.tenant_id == tenant_id,
                raw_payload.c.source_id == source_id,
                raw_payload.c.id == raw_id,
                raw_payload.c.format == "email",
            )
        )
    ).scalar()
    return bytes(body) if body is not None else None

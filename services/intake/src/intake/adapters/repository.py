"""Intake's SQL, in one place. Every query takes the tenant and filters on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from intake.adapters.tables import (
    dealership,
    lead,
    lead_source,
    raw_payload,
    source_api_key,
    submission,
    tenant_config,
)
from intake.domain.model import DealershipPlace


@dataclass(frozen=True)
class SourceRow:
    id: UUID
    tenant_id: str
    dealership_id: UUID
    name: str
    kind: str
    cost_per_lead: Decimal | None
    currency: str | None
    active: bool


@dataclass
class LeadState:
    """The part of a lead that de-duplication reads and a merge updates."""

    id: UUID
    dealership_id: UUID
    email: str | None
    phone: str | None
    last_enquiry_at: datetime
    enquiry_count: int
    sequence: int
    status: str
    do_not_contact: bool = False
    new: bool = False
    touched: bool = False


NO_SEQSCAN = text("SET LOCAL enable_seqscan = off")
# Two lookups, each on its own index, rather than one OR that the planner can only scan. Every
# lead of the person: an open one takes the enquiry, a closed one is the one a new lead follows,
# and any of them may say the person asked not to be contacted.
_CANDIDATE_COLUMNS = (
    "SELECT id, dealership_id, email, phone, last_enquiry_at, enquiry_count, "
    "sequence, status, do_not_contact FROM lead WHERE tenant_id = :tenant "
)
CANDIDATE_LEADS = text(
    _CANDIDATE_COLUMNS + "AND lower(email) = ANY(CAST(:emails AS text[])) "
    "UNION " + _CANDIDATE_COLUMNS + "AND phone = ANY(CAST(:phones AS text[]))"
)


class IntakeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- sources and dealerships -------------------------------------------------------
    async def source_by_key_prefix(self, prefix: str) -> tuple[SourceRow, str, bool] | None:
        """The source, its key hash and whether the key is revoked."""
        row = (
            await self.session.execute(
                select(lead_source, source_api_key.c.key_hash, source_api_key.c.revoked_at)
                .join(source_api_key, source_api_key.c.source_id == lead_source.c.id)
                .where(source_api_key.c.prefix == prefix)
            )
        ).first()
        if row is None:
            return None
        return _source(row), row.key_hash, row.revoked_at is not None

    async def source(self, tenant_id: str, source_id: UUID) -> SourceRow | None:
        row = (
            await self.session.execute(
                select(lead_source).where(
                    lead_source.c.tenant_id == tenant_id, lead_source.c.id == source_id
                )
            )
        ).first()
        return _source(row) if row else None

    async def sources(self, tenant_id: str) -> list[SourceRow]:
        rows = await self.session.execute(
            select(lead_source)
            .where(lead_source.c.tenant_id == tenant_id)
            .order_by(lead_source.c.name)
        )
        return [_source(r) for r in rows]

    async def dealership_places(self, tenant_id: str) -> dict[UUID, DealershipPlace]:
        """The tenant's dealerships, each with its country and time zone."""
        rows = await self.session.execute(
            select(dealership.c.id, dealership.c.country, dealership.c.timezone).where(
                dealership.c.tenant_id == tenant_id
            )
        )
        return {r.id: DealershipPlace(r.country, r.timezone) for r in rows}

    # --- tenant configuration ---------------------------------------------------------
    async def tenant_config(self, tenant_id: str) -> tuple[int, Any | None]:
        row = (
            await self.session.execute(
                select(tenant_config.c.dedup_window_days, tenant_config.c.test_rules).where(
                    tenant_config.c.tenant_id == tenant_id
                )
            )
        ).first()
        return (row.dedup_window_days, row.test_rules) if row else (30, None)

    # --- raw payloads -----------------------------------------------------------------
    async def add_raws(self, rows: list[dict[str, Any]]) -> set[UUID]:
        """Insert raw payloads; returns the ids inserted. A row whose AMQP message id the
        source used before is not inserted (that message's first row stands for it)."""
        inserted = await self.session.execute(
            pg_insert(raw_payload)
            .on_conflict_do_nothing(index_elements=["source_id", "message_id"])
            .returning(raw_payload.c.id),
            rows,
        )
        return set(inserted.scalars())

    async def add_raw(self, values: dict[str, Any]) -> bool:
        return bool(await self.add_raws([values]))

    async def lock_raw(self, tenant_id: str, raw_id: UUID) -> Any:
        return (
            await self.session.execute(
                select(raw_payload)
                .where(raw_payload.c.tenant_id == tenant_id, raw_payload.c.id == raw_id)
                .with_for_update()
            )
        ).first()

    async def lock_pending_raw(self, ids: list[UUID]) -> set[UUID]:
        """Lock these raw rows (in one order: by id) and return those still pending."""
        if not ids:
            return set()
        rows = await self.session.execute(
            select(raw_payload.c.id, raw_payload.c.status)
            .where(raw_payload.c.id.in_(ids))
            .order_by(raw_payload.c.id)
            .with_for_update()
        )
        return {r.id for r in rows if r.status == "pending"}

    async def raw_outcome(self, tenant_id: str, raw_id: UUID) -> tuple[Any, list[Any]]:
        """A processed payload's row (status, error) and its submissions."""
        raw = (
            await self.session.execute(
                select(raw_payload.c.status, raw_payload.c.error).where(
                    raw_payload.c.tenant_id == tenant_id, raw_payload.c.id == raw_id
                )
            )
        ).one()
        subs = await self.session.execute(
            select(submission)
            .where(submission.c.tenant_id == tenant_id, submission.c.raw_payload_id == raw_id)
            .order_by(submission.c.idempotency_key, submission.c.id)
        )
        return raw, list(subs)

    async def raw_of_message(self, tenant_id: str, source_id: UUID, message_id: str) -> Any:
        """The raw row an AMQP message got at its first delivery, if any."""
        return (
            await self.session.execute(
                select(raw_payload.c.id, raw_payload.c.status).where(
                    raw_payload.c.tenant_id == tenant_id,
                    raw_payload.c.source_id == source_id,
                    raw_payload.c.message_id == message_id,
                )
            )
        ).first()

    async def reopen_raw(self, tenant_id: str, raw_id: UUID) -> None:
        """An invalid or failed payload back to pending: its message came again (a replay)."""
        await self.session.execute(
            update(raw_payload)
            .where(
                raw_payload.c.tenant_id == tenant_id,
                raw_payload.c.id == raw_id,
                raw_payload.c.status.in_(("invalid", "failed")),
            )
            .values(status="pending", processed_at=None)
        )

    async def claim_stale_raw(self, older_than: datetime, limit: int) -> list[Any]:
        rows = await self.session.execute(
            select(raw_payload)
            .where(raw_payload.c.status == "pending", raw_payload.c.received_at < older_than)
            .order_by(raw_payload.c.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def finish_raw(
        self, tenant_id: str, raw_id: UUID, status: str, error: str | None = None
    ) -> None:
        await self.session.execute(
            update(raw_payload)
            .where(raw_payload.c.tenant_id == tenant_id, raw_payload.c.id == raw_id)
            .values(status=status, error=error, processed_at=func.now())
        )

    # --- de-duplication ---------------------------------------------------------------
    async def lock(self, keys: list[int]) -> None:
        """Advisory locks held to the end of the transaction, taken in the given order."""
        if keys:
            await self.session.execute(
                text(
                    "SELECT pg_advisory_xact_lock(k) FROM "
                    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS ordered"
                ),
                {"keys": keys},
            )

    async def submissions_by_key(self, source_id: UUID, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        rows = await self.session.execute(
            text(
                "SELECT idempotency_key, id, outcome, lead_id, reason_code, errors "
                "FROM submission WHERE source_id = :source "
                "AND idempotency_key = ANY(CAST(:keys AS text[]))"
            ),
            {"source": source_id, "keys": keys},
        )
        return {r.idempotency_key: r for r in rows}

    async def candidate_leads(
        self,
        tenant_id: str,
        emails: list[str],
        phones: list[str],
    ) -> list[LeadState]:
        """Every lead of these contacts: an enquiry merges into an open one; a closed one is
        the earlier lead a new one follows."""
        if not emails and not phones:
            return []
        # While a dealer group's first big upload outgrows the statistics, the planner takes
        # each probe to match thousands of leads and reads the whole table instead (100 ms
        # per lookup at 35,000 leads, growing). Probing the contact indexes is always right:
        # a contact matches a handful of leads.
        await self.session.execute(NO_SEQSCAN)
        rows = await self.session.execute(
            CANDIDATE_LEADS,
            {"tenant": tenant_id, "emails": emails, "phones": phones},
        )
        return [LeadState(**r._mapping) for r in rows]

    async def insert_leads(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(lead), rows)

    async def insert_submissions(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(submission), rows)

    async def update_merged(self, states: list[LeadState]) -> None:
        if not states:
            return
        await self.session.execute(
            text(
                "UPDATE lead SET last_enquiry_at = :last_enquiry_at, "
                "enquiry_count = :enquiry_count, sequence = :sequence, "
                "email = coalesce(email, :email), phone = coalesce(phone, :phone) "
                "WHERE id = :id"
            ),
            [
                {
                    "id": s.id,
                    "last_enquiry_at": s.last_enquiry_at,
                    "enquiry_count": s.enquiry_count,
                    "sequence": s.sequence,
                    "email": s.email,
                    "phone": s.phone,
                }
                for s in states
            ],
        )

    async def pending_merges(self, tenant_id: str, lead_id: UUID) -> list[Any]:
        """Enquiries merged into the lead and not made a lead of their own (yet), the earliest
        first: what intake judges again when it learns a funnel event of the lead."""
        rows = await self.session.execute(
            select(submission)
            .where(
                submission.c.tenant_id == tenant_id,
                submission.c.lead_id == lead_id,
                submission.c.outcome == "merged",
                submission.c.enquiry.is_not(None),
                submission.c.promoted_to.is_(None),
            )
            .order_by(submission.c.received_at, submission.c.id)
        )
        return list(rows)

    async def set_stage(self, tenant_id: str, ids: list[UUID], stage: str) -> None:
        await self.session.execute(
            update(submission)
            .where(submission.c.tenant_id == tenant_id, submission.c.id.in_(ids))
            .values(stage=stage)
        )

    async def promoted_from(self, tenant_id: str, lead_id: UUID) -> Any:
        """The lead that late enquiries of `lead_id` became earlier, if any (locked)."""
        made = select(submission.c.promoted_to).where(
            submission.c.tenant_id == tenant_id,
            submission.c.lead_id == lead_id,
            submission.c.promoted_to.is_not(None),
        )
        return (
            await self.session.execute(
                select(lead)
                .where(lead.c.tenant_id == tenant_id, lead.c.id.in_(made.limit(1)))
                .with_for_update()
            )
        ).first()

    async def promote(self, tenant_id: str, ids: list[UUID], lead_id: UUID) -> None:
        await self.session.execute(
            update(submission)
            .where(submission.c.tenant_id == tenant_id, submission.c.id.in_(ids))
            .values(promoted_to=lead_id)
        )

    async def lead(self, tenant_id: str, lead_id: UUID) -> Any:
        return (
            await self.session.execute(
                select(lead).where(lead.c.tenant_id == tenant_id, lead.c.id == lead_id)
            )
        ).first()

    async def enquiries(self, tenant_id: str, lead_id: UUID) -> list[Any]:
        rows = await self.session.execute(
            select(submission)
            .where(submission.c.tenant_id == tenant_id, submission.c.lead_id == lead_id)
            .order_by(submission.c.received_at)
        )
        return list(rows)


def _source(row: Any) -> SourceRow:
    return SourceRow(
        id=row.id,
        tenant_id=row.tenant_id,
        dealership_id=row.dealership_id,
        name=row.name,
        kind=row.kind,
        cost_per_lead=row.cost_per_lead,
        currency=row.currency,
        active=row.active,
    )


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)

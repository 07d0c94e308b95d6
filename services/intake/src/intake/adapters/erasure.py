"""Intake's SQL for erasing a person: find their rows, scrub them. Every query is tenant-scoped.

Leads keep their numbers (times, source, status, vehicle of interest) for the KPIs and lose who
the person is. Payloads kept as received are blanked whole (a payload naming the person is
theirs); a bulk file keeps its other people, only the person's lines are blanked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.erasure import Person, mask_lines

_REGIONS = text("SELECT DISTINCT country FROM dealership WHERE tenant_id = :tenant")

_LEADS = text(
    "SELECT id FROM lead WHERE tenant_id = :tenant AND ("
    "lower(email) = ANY(CAST(:emails AS text[])) OR phone = ANY(CAST(:phones AS text[])) "
    "OR other_phones && CAST(:phones AS text[])) ORDER BY id FOR UPDATE"
)

# The VIN names the person's own car; free text may name anyone.
_VEHICLE = "CASE WHEN jsonb_typeof({c}) = 'object' THEN {c} - 'comments' - 'vin' ELSE {c} END"

_SCRUB_LEADS = text(
    "UPDATE lead SET first_name = NULL, last_name = NULL, email = NULL, phone = NULL, "
    "other_phones = '{}', comments = NULL, extensions = '{}'::jsonb, trade_ins = '[]'::jsonb, "
    "warnings = '[]'::jsonb, "
    f"vehicle = {_VEHICLE.format(c='vehicle')} "
    "WHERE tenant_id = :tenant AND id = ANY(:ids)"
)

# A key a source chose can hold the person's email or phone ("ann@x.com-2026-03-02").
_KEY_NAMES = (
    "EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) n WHERE strpos(lower({c}), n) > 0) "
    "OR EXISTS (SELECT 1 FROM unnest(CAST(:patterns AS text[])) p WHERE {c} ~ p)"
)

_SCRUB_SUBMISSIONS = text(
    "UPDATE submission SET comments = NULL, enquiry = NULL, "
    f"vehicle = {_VEHICLE.format(c='vehicle')}, "
    "idempotency_key = CASE WHEN idempotency_key IS NOT NULL AND ("
    + _KEY_NAMES.format(c="idempotency_key")
    + ") THEN NULL ELSE idempotency_key END "
    "WHERE tenant_id = :tenant AND lead_id = ANY(:ids) RETURNING raw_payload_id"
)

# Payloads of the person's submissions, and any other naming them (refused, unreadable, failed,
# pending): the body is read as text with non-ASCII bytes escaped, never decoded.
_RAW_NAMING = text(
    "SELECT id FROM raw_payload WHERE tenant_id = :tenant AND length(body) > 0 AND ("
    "id = ANY(:ids) OR "
    + _KEY_NAMES.format(c="encode(body, 'escape')")
    + ") ORDER BY id FOR UPDATE"
)

# A pending payload is never processed now (the request to erase came later); the others keep
# their status, so a resend still answers with what came of it.
_SCRUB_RAW = text(
    "UPDATE raw_payload SET body = ''::bytea, content_type = NULL, "
    "status = CASE WHEN status = 'pending' THEN 'erased' ELSE status END, "
    "error = CASE WHEN error IS NULL THEN NULL ELSE 'erased' END, "
    "idempotency_key = CASE WHEN idempotency_key IS NOT NULL AND ("
    + _KEY_NAMES.format(c="idempotency_key")
    + ") THEN NULL ELSE idempotency_key END, "
    "message_id = CASE WHEN message_id IS NOT NULL AND ("
    + _KEY_NAMES.format(c="message_id")
    + ") THEN NULL ELSE message_id END "
    "WHERE tenant_id = :tenant AND id = ANY(:ids)"
)

_CHUNKS_NAMING = text(
    "SELECT c.job_id, c.seq, c.data FROM bulk_chunk c JOIN bulk_job j ON j.id = c.job_id "
    "WHERE j.tenant_id = :tenant AND c.job_id IN ("
    "SELECT c2.job_id FROM bulk_chunk c2 JOIN bulk_job j2 ON j2.id = c2.job_id "
    "WHERE j2.tenant_id = :tenant AND ("
    + _KEY_NAMES.format(c="encode(c2.data, 'escape')")
    + ")) ORDER BY c.job_id, c.seq FOR UPDATE OF c"
)
_WRITE_CHUNK = text("UPDATE bulk_chunk SET data = :data WHERE job_id = :job_id AND seq = :seq")

_RECORD = text(
    "INSERT INTO erasure (id, tenant_id, requested_by, lead_ids, counts, requested_at, "
    "erased_at) VALUES (:id, :tenant, :by, :lead_ids, CAST(:counts AS jsonb), :requested_at, "
    ":erased_at)"
)


class ErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def regions(self, tenant: str) -> list[str]:
        """The countries of the tenant's dealerships: phones were read for these."""
        return [r.country for r in await self.session.execute(_REGIONS, {"tenant": tenant})]

    def _match(self, who: Person) -> dict[str, Any]:
        return {
            "needles": list(who.emails + who.typed),
            "patterns": list(who.phone_patterns()),
        }

    async def leads(self, tenant: str, who: Person) -> list[UUID]:
        """The person's leads, locked (a merge into one of them waits for the erasure)."""
        rows = await self.session.execute(
            _LEADS, {"tenant": tenant, "emails": list(who.emails), "phones": list(who.phones)}
        )
        return [r.id for r in rows]

    async def scrub_leads(self, tenant: str, ids: Sequence[UUID]) -> int:
        if not ids:
            return 0
        done = await self.session.execute(_SCRUB_LEADS, {"tenant": tenant, "ids": list(ids)})
        return int(done.rowcount)  # type: ignore[attr-defined]

    async def scrub_submissions(
        self, tenant: str, ids: Sequence[UUID], who: Person
    ) -> tuple[int, set[UUID]]:
        """The number of submissions scrubbed, and the raw payloads they came in."""
        if not ids:
            return 0, set()
        rows = (
            await self.session.execute(
                _SCRUB_SUBMISSIONS, {"tenant": tenant, "ids": list(ids)} | self._match(who)
            )
        ).all()
        return len(rows), {r.raw_payload_id for r in rows if r.raw_payload_id is not None}

    async def scrub_raw(self, tenant: str, ids: set[UUID], who: Person) -> int:
        """Blank the given payloads and any other naming the person."""
        found = await self.session.execute(
            _RAW_NAMING, {"tenant": tenant, "ids": sorted(ids)} | self._match(who)
        )
        naming = [r.id for r in found]
        if naming:
            await self.session.execute(
                _SCRUB_RAW, {"tenant": tenant, "ids": naming} | self._match(who)
            )
        return len(naming)

    async def scrub_bulk_files(self, tenant: str, who: Person) -> int:
        """Blank the person's lines in uploaded files (split across chunks at any byte: each
        file is masked whole, then written back chunk by chunk at the same sizes)."""
        rows = (
            await self.session.execute(_CHUNKS_NAMING, {"tenant": tenant} | self._match(who))
        ).all()
        files: dict[UUID, list[Any]] = {}
        for r in rows:
            files.setdefault(r.job_id, []).append(r)
        lines = 0
        for job_id, chunks in files.items():
            data, masked = mask_lines(
                b"".join(bytes(c.data) for c in chunks),
                self._match(who)["needles"],
                who.phone_patterns(),
            )
            lines += masked
            at = 0
            for c in chunks:
                size = len(c.data)
                part = data[at : at + size]
                at += size
                if part != bytes(c.data):
                    await self.session.execute(
                        _WRITE_CHUNK, {"job_id": job_id, "seq": c.seq, "data": part}
                    )
        return lines

    async def record(self, row: dict[str, Any]) -> None:
        await self.session.execute(_RECORD, row)

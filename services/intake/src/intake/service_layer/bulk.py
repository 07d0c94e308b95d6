"""Bulk CSV intake: receive the file as it streams, process it in batches, report each row.

The upload is stored chunk by chunk in one transaction (the raw payload of the job). A worker,
any replica, takes the job under a session advisory lock, reads the stored chunks through the
streaming CSV reader and ingests rows in batches; each batch's leads, row reports and the job's
checkpoint commit together, so a crash resumes exactly where the last batch ended. While a batch
is being written (time spent in PostgreSQL), the worker reads and judges the next one on the same
event loop; batches still commit one after the other, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from intake.adapters.csv_rows import ColumnMapping, CsvMappingError, CsvRow, iter_rows, read_rows
from intake.adapters.repository import SourceRow
from intake.adapters.tables import bulk_chunk, bulk_job, bulk_row
from intake.domain import clean, dedup
from intake.domain.model import DealershipPlace, FieldError, shallow_dict
from intake.domain.normalise import ContactCache
from intake.service_layer.ingest import (
    IncomingLead,
    TenantRules,
    UnknownDealership,
    Verdicts,
    dealership_of,
    idempotency_key,
    ingest,
    judge,
    tenant_rules,
)
from intake.service_layer.receive import UowFactory, describe
from shared.clock import Clock
from shared.http import database_transient, database_unavailable

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# Rows read or judged between two turns of the other tasks on the event loop (~10 ms of work).
YIELD_EVERY = 50


class UploadTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class _Judged:
    """A batch of rows read and judged, ready to be written."""

    source: SourceRow
    rows: list[CsvRow]
    good: list[CsvRow]
    items: list[IncomingLead]
    rules: TenantRules
    verdicts: Verdicts


def check_header(first_bytes: bytes, mapping: ColumnMapping) -> None:
    """Fail fast (before storing a large file) when a mapped header name is missing."""
    with contextlib.suppress(StopIteration):
        next(iter(iter_rows([first_bytes], mapping)))


async def _coalesce(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _check_dealership(
    row: CsvRow, source: SourceRow, countries: dict[UUID, DealershipPlace]
) -> CsvRow:
    """A row naming a dealership outside the tenant is a rejected row, not a failed batch."""
    if row.submission is None:
        return row
    try:
        dealership_of(row.submission, source, countries)
    except UnknownDealership as exc:
        return dataclasses.replace(
            row, submission=None, error=FieldError("dealership_id", str(exc))
        )
    return row


class BulkJobs:
    def __init__(
        self,
        engine: AsyncEngine,
        uows: UowFactory,
        clock: Clock,
        *,
        batch_size: int = 1000,
        max_rows: int = 1_000_000,
        max_attempts: int = 5,
    ) -> None:
        self._engine = engine
        self._uows = uows
        self._clock = clock
        self._batch_size = batch_size
        self._max_rows = max_rows
        self._max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    async def upload(
        self,
        source: SourceRow,
        mapping: ColumnMapping,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
        dealership_id: UUID | None = None,
    ) -> UUID:
        job_id = uuid4()
        async with self._uows() as uow:
            if dealership_id is not None and dealership_id not in (
                await uow.repo.dealership_places(source.tenant_id)
            ):
                raise UnknownDealership(str(dealership_id))
            await uow.session.execute(
                insert(bulk_job).values(
                    id=job_id,
                    tenant_id=source.tenant_id,
                    source_id=source.id,
                    dealership_id=dealership_id,
                    mapping=mapping.model_dump(mode="json"),
                    created_at=self._clock.now(),
                )
            )
            total = 0
            seq = 0
            async for data in _coalesce(chunks, CHUNK_BYTES):
                if seq == 0:
                    check_header(data, mapping)
                total += len(data)
                if total > max_bytes:
                    raise UploadTooLarge(f"the file is over the limit of {max_bytes} bytes")
                await uow.session.execute(
                    insert(bulk_chunk).values(job_id=job_id, seq=seq, data=data)
                )
                seq += 1
            await uow.session.execute(
                update(bulk_job)
                .where(bulk_job.c.id == job_id)
                .values(status="queued", bytes=total, chunks=seq)
            )
            await uow.commit()
        self._wake.set()
        return job_id

    async def job(self, tenant_id: str, job_id: UUID) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(bulk_job).where(
                        bulk_job.c.tenant_id == tenant_id, bulk_job.c.id == job_id
                    )
                )
            ).first()
        return dict(row._mapping) if row else None

    async def rows(
        self,
        tenant_id: str,
        job_id: UUID,
        *,
        outcome: str | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        query = (
            select(bulk_row)
            .join(bulk_job, bulk_job.c.id == bulk_row.c.job_id)
            .where(
                bulk_job.c.tenant_id == tenant_id,
                bulk_row.c.job_id == job_id,
                bulk_row.c.row_number > after,
            )
            .order_by(bulk_row.c.row_number)
            .limit(limit)
        )
        if outcome:
            query = query.where(bulk_row.c.outcome == outcome)
        async with self._engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query)]

    # --- the worker -------------------------------------------------------------------
    async def _chunks(self, job_id: UUID, count: int) -> AsyncIterator[bytes]:
        for seq in range(count):
            async with self._engine.connect() as conn:
                data = await conn.scalar(
                    select(bulk_chunk.c.data).where(
                        bulk_chunk.c.job_id == job_id, bulk_chunk.c.seq == seq
                    )
                )
            if data is None:
                raise RuntimeError(f"chunk {seq} of bulk job {job_id} is missing")
            yield bytes(data)

    async def run_once(self) -> bool:
        """Process one waiting job, if any replica has not taken it. True if it did work.

        A job that fails is tried again later (after 1, 2, 4... s, at most a minute), and
        marked failed with its error after `max_attempts` tries; meanwhile the worker goes on
        with the other jobs. A database outage or a lost race is not counted as a try."""
        async with self._engine.connect() as lock_conn:
            candidates = (
                await lock_conn.execute(
                    select(bulk_job.c.id)
                    .where(
                        bulk_job.c.status.in_(("queued", "processing")),
                        or_(bulk_job.c.retry_at.is_(None), bulk_job.c.retry_at <= func.now()),
                    )
                    .order_by(bulk_job.c.created_at)
                    .limit(20)
                )
            ).scalars()
            for job_id in list(candidates):
                key = dedup.lock_key("bulk", str(job_id))
                got = await lock_conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                await lock_conn.commit()
                if not got:
                    continue
                try:
                    await self._process(job_id)
                except Exception as exc:
                    if database_unavailable(exc):
                        raise  # every job would fail alike: run() waits and tries again
                    await self._failed_try(job_id, exc)
                finally:
                    await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await lock_conn.commit()
                return True
        return False

    async def _failed_try(self, job_id: UUID, exc: Exception) -> None:
        counted = not database_transient(exc)
        log.error("bulk job %s failed (%s)", job_id, describe(exc), exc_info=counted)
        async with self._engine.begin() as conn:
            attempts = await conn.scalar(
                update(bulk_job)
                .where(bulk_job.c.id == job_id)
                .values(
                    attempts=bulk_job.c.attempts + (1 if counted else 0),
                    error=clean.one_line(f"a try failed: {describe(exc)}"),
                )
                .returning(bulk_job.c.attempts)
            )
            if attempts is not None and attempts >= self._max_attempts:
                await conn.execute(
                    update(bulk_job)
                    .where(bulk_job.c.id == job_id)
                    .values(
                        status="failed",
                        error=clean.one_line(
                            f"gave up after {attempts} tries; last error: {describe(exc)}"
                        ),
                        finished_at=func.now(),
                    )
                )
            else:
                delay = min(2 ** (attempts or 0), 60)
                await conn.execute(
                    update(bulk_job)
                    .where(bulk_job.c.id == job_id)
                    .values(retry_at=func.now() + timedelta(seconds=delay))
                )

    async def _process(self, job_id: UUID) -> None:
        async with self._engine.connect() as conn:
            job = (await conn.execute(select(bulk_job).where(bulk_job.c.id == job_id))).one()
        if job.status not in ("queued", "processing"):
            return  # another replica finished it between our read and our lock
        await self._set(job_id, status="processing")
        mapping = ColumnMapping.model_validate(job.mapping)
        async with self._uows() as uow:
            source = await uow.repo.source(job.tenant_id, job.source_id)
            countries = await uow.repo.dealership_places(job.tenant_id)
        assert source is not None
        if job.dealership_id is not None:
            if job.dealership_id not in countries:  # a job queued before uploads checked it
                await self._set(
                    job_id,
                    status="failed",
                    error=str(UnknownDealership(str(job.dealership_id))),
                    finished_at=func.now(),
                )
                return
            source = dataclasses.replace(source, dealership_id=job.dealership_id)
        batch: list[CsvRow] = []
        data_rows = 0
        writing: asyncio.Task[None] | None = None
        contacts = ContactCache()  # this job's: people repeat within a file
        try:
            async for row in read_rows(self._chunks(job_id, job.chunks), mapping):
                data_rows += 1
                if data_rows > self._max_rows:
                    await self._set(
                        job_id,
                        error=f"stopped after {self._max_rows} rows, the limit per upload",
                    )
                    break
                if row.number <= job.last_row:
                    continue  # done before a crash
                batch.append(row)
                if len(batch) % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # the batch being written takes its turn
                if len(batch) >= self._batch_size:
                    writing = await self._next_batch(job, source, batch, writing, contacts)
                    batch = []
            if batch:
                writing = await self._next_batch(job, source, batch, writing, contacts)
            if writing is not None:
                await writing
        except CsvMappingError as exc:
            if writing is not None:
                await writing
            await self._set(job_id, status="failed", error=str(exc), finished_at=func.now())
            return
        finally:
            if writing is not None and not writing.done():
                # Something failed while a batch was being written: let it commit or fail by
                # itself (either way the checkpoint is right), rather than cut it off.
                with contextlib.suppress(Exception):
                    await writing
        await self._set(job_id, status="done", finished_at=func.now())

    async def _next_batch(
        self,
        job: Any,
        source: SourceRow,
        rows: list[CsvRow],
        writing: asyncio.Task[None] | None,
        contacts: ContactCache,
    ) -> asyncio.Task[None]:
        """Judge `rows` while the previous batch is still being written (the database's time,
        not this process's), then write them once it is done: batches commit in order, and
        each one's de-duplication sees the one before."""
        judged = await self._judge(job, source, rows, contacts)
        if writing is not None:
            await writing
        return asyncio.create_task(self._commit_batch(job, judged))

    async def _judge(
        self, job: Any, source: SourceRow, rows: list[CsvRow], contacts: ContactCache
    ) -> _Judged:
        async with self._uows() as uow:
            rules = await tenant_rules(uow, source.tenant_id)
            countries = await uow.repo.dealership_places(source.tenant_id)
        rows = [_check_dealership(row, source, countries) for row in rows]
        good = [r for r in rows if r.submission is not None]
        items = [
            IncomingLead(
                submission=r.submission,
                received_at=job.created_at,
                # A row without the provider's id is keyed by its place in this job, so a
                # batch redone after a crash is a no-op.
                idempotency_key=idempotency_key(None, r.submission) or f"bulk:{job.id}:{r.number}",
                correlation_id=str(job.id),
            )
            for r in good
            if r.submission is not None
        ]
        verdicts = Verdicts()
        for start in range(0, len(items), YIELD_EVERY):
            verdicts.extend(
                judge(items[start : start + YIELD_EVERY], source, countries, rules, contacts)
            )
            await asyncio.sleep(0)  # the batch being written takes its turn
        return _Judged(source, rows, good, items, rules, verdicts)

    async def _set(self, job_id: UUID, **values: Any) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(bulk_job).where(bulk_job.c.id == job_id).values(**values))

    async def _commit_batch(self, job: Any, judged: _Judged) -> None:
        rows, good = judged.rows, judged.good
        async with self._uows() as uow:
            results = await ingest(
                uow,
                judged.source,
                judged.items,
                rules=judged.rules,
                now=self._clock.now(),
                bulk_job_id=job.id,
                verdicts=judged.verdicts,
            )
            by_row = dict(zip((r.number for r in good), results, strict=True))
            report = []
            counts = {"ingested": 0, "merged": 0, "rejected": 0, "resent": 0}
            for row in rows:
                result = by_row.get(row.number)
                if result is None:  # the row itself could not be read
                    err = row.error
                    report.append(
                        {
                            "job_id": job.id,
                            "row_number": row.number,
                            "outcome": "rejected",
                            "lead_id": None,
                            "reason_code": "invalid.row",
                            "errors": [shallow_dict(err)] if err else [],
                        }
                    )
                    counts["rejected"] += 1
                    continue
                counts[result.outcome] += 1
                report.append(
                    {
                        "job_id": job.id,
                        "row_number": row.number,
                        "outcome": result.outcome,
                        "lead_id": result.lead_id,
                        "reason_code": result.reason_code,
                        "errors": [shallow_dict(e) for e in result.errors],
                    }
                )
            await uow.session.execute(insert(bulk_row), report)
            await uow.session.execute(
                update(bulk_job)
                .where(bulk_job.c.id == job.id)
                .values(
                    # Data rows reported so far; the checkpoint is the last one's record number
                    # (the header, blank lines and the rows before a resume are not counted).
                    rows_done=bulk_job.c.rows_done + len(rows),
                    last_row=rows[-1].number,
                    accepted=bulk_job.c.accepted + counts["ingested"],
                    merged=bulk_job.c.merged + counts["merged"],
                    rejected=bulk_job.c.rejected + counts["rejected"],
                    resent=bulk_job.c.resent + counts["resent"],
                )
            )
            await uow.commit()

    async def run(self, poll_seconds: float = 1.0) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                while await self.run_once():
                    pass
            except Exception:
                log.exception("bulk worker failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

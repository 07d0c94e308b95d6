"""Concurrent payloads share transactions: the intake's answer to per-request overhead.

Measured on the JSON path, each lead alone cost ~14 ms of CPU, nearly all of it per statement
and per transaction (SQLAlchemy, asyncpg, commits), not in the lead's own logic. `ingest()`
is set-based already, so payloads that arrive while a batch is being written simply wait for
the next one: their raw bodies are kept in one transaction, then all are processed in a second.
A lone payload is a batch of one (no timer, no added wait); under load batches grow by
themselves. If a batch fails as a whole, each payload is processed on its own, so one bad
payload never takes the others down with it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import text

from intake.adapters.repository import SourceRow
from intake.domain import clean, dedup
from intake.domain.call import CallNotice
from intake.domain.model import DealershipPlace, FieldError
from intake.service_layer.calls import record_call
from intake.service_layer.ingest import (
    IncomingLead,
    IngestResult,
    TenantRules,
    UnknownDealership,
    Verdicts,
    ingest,
    judge,
    lock_keys,
)
from intake.service_layer.ingest import tenant_rules as load_rules
from shared.clock import Clock
from shared.http import database_unavailable

if TYPE_CHECKING:
    from intake.service_layer.receive import Received, Receiver, UowFactory
    from intake.service_layer.unit_of_work import IntakeUnitOfWork

log = logging.getLogger(__name__)

# Leads normalised between two turns of the event loop (~10 ms of work).
JUDGE_BETWEEN_TURNS = 50

_MARK_PROCESSED = text(
    "UPDATE raw_payload SET status = 'processed', processed_at = now() "
    "WHERE id = ANY(:ids) AND status = 'pending'"
)
_MARK_INVALID = text(
    "UPDATE raw_payload SET status = 'invalid', error = :error, processed_at = now() "
    "WHERE id = :id AND status = 'pending'"
)


@dataclass
class _Job:
    source: SourceRow
    row: dict[str, Any]
    correlation_id: str | None
    future: asyncio.Future[Received] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def raw_id(self) -> UUID:
        raw_id: UUID = self.row["id"]
        return raw_id


class Batcher:
    def __init__(
        self,
        receiver: Receiver,
        uows: UowFactory,
        clock: Clock,
        *,
        max_batch: int = 200,
        workers: int = 2,
    ) -> None:
        self._receiver = receiver
        self._uows = uows
        self._clock = clock
        self._max_batch = max_batch
        self._workers = workers
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()

    async def submit(
        self, source: SourceRow, row: dict[str, Any], correlation_id: str | None
    ) -> Received:
        job = _Job(source, row, correlation_id)
        await self._queue.put(job)
        return await job.future

    async def run(self) -> None:
        workers = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._handle(batch)

    async def _handle(self, batch: list[_Job]) -> None:
        from intake.service_layer.receive import InvalidPayload, Received

        try:
            stored = await self._store(batch)
        except Exception as exc:  # nothing kept: the callers get the error (HTTP 5xx, nack)
            for job in batch:
                _settle(job, exc)
            return
        fresh = [job for job in batch if job.raw_id in stored]
        try:
            outcomes = await self._process(fresh)
        except Exception as exc:
            if database_unavailable(exc):  # each alone would fail the same way: pending, all
                self._receiver.outage.saw(exc)
                for job in batch:
                    _settle(job, exc)
                return
            log.exception("batch of %d failed; processing each payload on its own", len(fresh))
            outcomes = {}
            for job in fresh:
                try:
                    outcomes[job.raw_id] = await self._receiver.outcome(
                        job.source.tenant_id, job.raw_id, correlation_id=job.correlation_id
                    )
                except Exception as exc:
                    outcomes[job.raw_id] = exc
        for job in fresh:
            outcome = outcomes[job.raw_id]
            if isinstance(outcome, InvalidPayload):
                outcome.raw_payload_id = job.raw_id
            _settle(
                job, outcome if isinstance(outcome, Exception) else Received(job.raw_id, outcome)
            )
        # Messages whose id has a row already (a redelivery, a copy published twice): after
        # the batch, so a copy within this very batch finds its row processed.
        for job in batch:
            if job.raw_id not in stored:
                try:
                    again = await self._receiver.message_again(
                        job.source, job.row["message_id"], job.correlation_id
                    )
                except Exception as exc:
                    _settle(job, exc)
                else:
                    _settle(job, again)

    async def _store(self, batch: list[_Job]) -> set[UUID]:
        """Keep the raw payloads; returns the ids stored (an AMQP message whose id is known
        already is not stored again)."""
        async with self._uows() as uow:
            # The processing transaction that follows commits synchronously, which flushes this
            # one's WAL too: no durability is lost by not waiting for the flush here.
            await uow.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            stored = await uow.repo.add_raws([job.row for job in batch])
            await uow.commit()
        return stored

    async def _judge(
        self,
        uow: IntakeUnitOfWork,
        by_source: dict[UUID, list[tuple[_Job, list[IncomingLead]]]],
        sources: dict[UUID, SourceRow],
        outcomes: dict[UUID, list[IngestResult] | Exception],
    ) -> list[_Group]:
        """Each payload's leads judged (normalised, or the reason they are refused), a few at
        a time between turns of the event loop. A payload naming a dealership outside its
        tenant is invalid on its own; the rest of the batch goes on."""
        from intake.service_layer.receive import InvalidPayload

        rules: dict[str, TenantRules] = {}
        countries: dict[str, dict[UUID, DealershipPlace]] = {}
        groups = []
        judged = 0
        for source_id, entries in by_source.items():
            source = sources[source_id]
            tenant = source.tenant_id
            if tenant not in rules:
                rules[tenant] = await load_rules(uow, tenant)
                countries[tenant] = await uow.repo.dealership_places(tenant)
            group = _Group(source, rules[tenant])
            for job, items in entries:
                try:
                    verdicts = judge(items, source, countries[tenant], rules[tenant])
                except UnknownDealership as exc:
                    outcomes[job.raw_id] = InvalidPayload([FieldError("dealership_id", str(exc))])
                    continue
                group.entries.append((job, items))
                group.items += items
                group.verdicts.extend(verdicts)
                judged += len(items)
                if judged >= JUDGE_BETWEEN_TURNS:
                    judged = 0
                    await asyncio.sleep(0)  # other requests take their turn
            groups.append(group)
        return groups

    async def _process(self, batch: list[_Job]) -> dict[UUID, list[IngestResult] | Exception]:
        from intake.service_layer.receive import InvalidPayload

        outcomes: dict[UUID, list[IngestResult] | Exception] = {}
        parsed: list[tuple[_Job, list[IncomingLead]]] = []
        calls: list[tuple[_Job, CallNotice]] = []
        for job in batch:
            try:
                read = await self._receiver.parse_off_loop(job.row["format"], job.row["body"])
            except InvalidPayload as exc:
                outcomes[job.raw_id] = exc
                continue
            raw = SimpleNamespace(**job.row)
            parsed.append((job, self._receiver.items(raw, read.submissions, job.correlation_id)))
            if read.call is not None:
                calls.append((job, read.call))
        async with self._uows() as uow:
            # The raw rows first, then the de-duplication locks (in ingest): the order in which
            # Receiver.process takes them, so the two never wait for each other in a cycle. A
            # row processed meanwhile (its message delivered twice, the sweeper) is left out.
            pending = await uow.repo.lock_pending_raw([job.raw_id for job in batch])
            elsewhere = [job for job in batch if job.raw_id not in pending]
            by_source: dict[UUID, list[tuple[_Job, list[IncomingLead]]]] = {}
            sources: dict[UUID, SourceRow] = {}
            for job, items in parsed:
                if job.raw_id in pending:
                    sources[job.source.id] = job.source
                    by_source.setdefault(job.source.id, []).append((job, items))
            groups = await self._judge(uow, by_source, sources, outcomes)
            # Every de-duplication lock of the transaction in one call, in one global order:
            # locking source by source, two batches over the same sources in other orders
            # deadlocked (12 in 400 concurrent posts across replicas).
            await uow.repo.lock(
                dedup.sorted_unique(
                    key
                    for group in groups
                    for key in lock_keys(group.source, group.items, group.verdicts)
                )
            )
            for group in groups:
                results = iter(
                    await ingest(
                        uow,
                        group.source,
                        group.items,
                        rules=group.rules,
                        now=self._clock.now(),
                        verdicts=group.verdicts,
                        locked=True,
                    )
                )
                for job, items in group.entries:
                    outcomes[job.raw_id] = [next(results) for _ in items]
            for job, call in calls:
                if job.raw_id in pending:
                    raw = SimpleNamespace(**job.row)
                    await record_call(uow, job.source, raw, call, job.correlation_id)
            mine = [job for job in batch if job.raw_id in pending]
            done = [job.raw_id for job in mine if not isinstance(outcomes[job.raw_id], Exception)]
            marked = await uow.session.execute(_MARK_PROCESSED, {"ids": done})
            if marked.rowcount != len(done):  # type: ignore[attr-defined]
                raise RuntimeError("a payload of this batch was processed elsewhere")
            invalid = [
                {"id": job.raw_id, "error": clean.one_line(str(outcomes[job.raw_id])[:4000])}
                for job in mine
                if isinstance(outcomes[job.raw_id], Exception)
            ]
            if invalid:
                await uow.session.execute(_MARK_INVALID, invalid)
            await uow.commit()
        for job in elsewhere:
            try:
                outcomes[job.raw_id] = await self._receiver.recorded(
                    job.source.tenant_id, job.raw_id
                )
            except Exception as exc:
                outcomes[job.raw_id] = exc
        return outcomes


@dataclass
class _Group:
    """One source's leads of a batch, judged."""

    source: SourceRow
    rules: TenantRules
    entries: list[tuple[_Job, list[IncomingLead]]] = field(default_factory=list)
    items: list[IncomingLead] = field(default_factory=list)
    verdicts: Verdicts = field(default_factory=Verdicts)


def _settle(job: _Job, outcome: Received | Exception) -> None:
    if job.future.done():  # the caller went away; the payload is kept and processed anyway
        return
    if isinstance(outcome, Exception):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)

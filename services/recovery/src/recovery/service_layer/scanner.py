"""The scanner: fires the runs whose `fire_at` has come, in batches, on any number of replicas.

The run rows are the schedule (no copy in a timer table): a partial index on `fire_at` holds
only the runs still going. A batch claims due rows with `FOR UPDATE SKIP LOCKED` (two replicas
take different rows, neither waits) and fires them in one transaction with their events, so a
crash anywhere in the batch leaves every row of it due again, fired by the next scan: nothing
skipped, nothing fired twice.

A batch costs a fixed number of round trips, whatever its size: the claim, one UPDATE of the
fired fields of every run (`save_fired`), one insert of the attempt rows, the outbox rows and
the commit. Measured before, a savepoint and a full-row UPDATE per run held the scanner to
~40 runs/s on a loaded 2-core machine. A run whose step fails to fire (in the domain, or
building its events) is left out of the batch and retried later with its error kept; the rest
goes on. Should the batch's writes fail in the database, the batch is fired again one run at a
time, each behind a savepoint, so one bad row cannot hold the others back.

It sleeps until the earliest `fire_at`, or until a NOTIFY says a run was scheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from recovery.adapters.repository import FIRED_FIELDS, NOTIFY_CHANNEL
from recovery.domain.events import DomainEvent
from recovery.domain.recovery import Recovery
from recovery.service_layer.events import to_envelope
from recovery.service_layer.handlers import attempt_rows
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope
from shared.db import asyncpg_dsn
from shared.notify import listen

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=5)
# Fields firing must leave alone; a run that changed one is saved whole (see `write_fired`).
_others = attrgetter(
    *(f.name for f in fields(Recovery) if f.name not in FIRED_FIELDS and f.name != "events")
)


@dataclass
class Fired:
    """A run whose step fired, with its events and their envelopes, still to be written."""

    run: Recovery
    events: list[DomainEvent]
    envelopes: list[Envelope[Any]]
    whole: bool = False  # it changed more than `FIRED_FIELDS`: save every column


async def write_fired(uow: RecoveryUnitOfWork, fired: Sequence[Fired]) -> None:
    """The runs, their attempts and their events, a few statements for the whole batch."""
    await uow.repo.save_fired([f.run for f in fired if not f.whole])
    for f in fired:
        if f.whole:
            await uow.repo.save(f.run)
    await uow.repo.add_attempts([a for f in fired for a in attempt_rows(f.run, f.events)])
    if any(f.run.state == "scheduled" for f in fired):
        await uow.repo.notify_scanner()
    for f in fired:
        for envelope in f.envelopes:
            uow.emit(envelope)


class Scanner:
    def __init__(
        self,
        engine: AsyncEngine,
        uows: Callable[[], RecoveryUnitOfWork],
        clock: Clock,
        *,
        batch_size: int = 500,
        max_sleep: float = 30.0,
    ) -> None:
        self._engine = engine
        self._uows = uows
        self._clock = clock
        self._batch_size = batch_size
        self._max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def fire_one(self, r: Recovery, now: datetime) -> Fired | None:
        """Fire one claimed run in memory (nothing written yet); None if it had nothing to do."""
        before = _others(r)
        if not r.fire(now):
            return None
        events = r.pull_events()
        envelopes = [to_envelope(e) for e in events]
        return Fired(r, events, envelopes, whole=_others(r) != before)

    async def _failed(
        self, uow: RecoveryUnitOfWork, r: Recovery, now: datetime, exc: Exception
    ) -> None:
        log.error("recovery %s could not fire; retrying later", r.recovery_id, exc_info=exc)
        r.pull_events()
        await uow.repo.fire_failed(r.recovery_id, now + RETRY_AFTER, repr(exc)[:500])

    async def fire_batch(self) -> int:
        """Fire one batch of due runs; returns how many were claimed."""
        now = self._clock.now()
        try:
            async with self._uows() as uow:
                runs = await uow.repo.claim_due(now, self._batch_size)
                fired: list[Fired] = []
                failed: list[tuple[Recovery, Exception]] = []
                for r in runs:
                    try:
                        if (one := await self.fire_one(r, now)) is not None:
                            fired.append(one)
                    except Exception as exc:
                        failed.append((r, exc))
                await write_fired(uow, fired)
                for r, error in failed:
                    await self._failed(uow, r, now, error)
                await uow.commit()
            return len(runs)
        except DBAPIError as exc:
            log.warning("recovery scanner: batch not written (%r); one run at a time", exc)
            return await self.fire_batch_one_by_one()

    async def fire_batch_one_by_one(self) -> int:
        """The slow way, each run behind a savepoint of its own: a run whose writes fail is
        rolled back alone and retried later with its error kept."""
        now = self._clock.now()
        async with self._uows() as uow:
            runs = await uow.repo.claim_due(now, self._batch_size)
            for r in runs:
                try:
                    async with uow.session.begin_nested():
                        if (one := await self.fire_one(r, now)) is not None:
                            await write_fired(uow, [one])
                except Exception as exc:  # write_fired emits last: nothing of it emitted
                    await self._failed(uow, r, now, exc)
            await uow.commit()
        return len(runs)

    async def fire_due(self) -> int:
        """Fire until nothing due is left for this replica."""
        total = 0
        while n := await self.fire_batch():
            total += n
        return total

    async def _sleep_seconds(self) -> float:
        async with self._uows() as uow:
            next_at = await uow.repo.next_fire_at()
        if next_at is None:
            return self._max_sleep
        wait = (next_at - self._clock.now()).total_seconds()
        # Due rows another replica holds are skipped, not waited on: do not spin on them.
        return max(0.05, min(wait, self._max_sleep))

    async def run(self) -> None:
        dsn = asyncpg_dsn(self._engine.url.render_as_string(hide_password=False))
        listener = asyncio.create_task(listen(dsn, NOTIFY_CHANNEL, self._wake, self._stopping))
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    await self.fire_due()
                    pause = await self._sleep_seconds()
                except Exception as exc:  # database down: keep trying
                    log.warning("recovery scanner: %r", exc)
                    pause = 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

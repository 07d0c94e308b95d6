"""The scanner: fires the runs whose `fire_at` has come, in batches, on any number of replicas.

The run rows are the schedule (no copy in a timer table): a partial index on `fire_at` holds
only the runs still going. A batch claims due rows with `FOR UPDATE SKIP LOCKED` (two replicas
take different rows, neither waits) and fires them in one transaction with their events, so a
crash anywhere in the batch leaves every row of it due again, fired by the next scan: nothing
skipped, nothing fired twice. One run that fails is rolled back to its savepoint and retried
later with its error kept; the rest of the batch goes on.

It sleeps until the earliest `fire_at`, or until a NOTIFY says a run was scheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from recovery.adapters.repository import NOTIFY_CHANNEL
from recovery.domain.recovery import Recovery
from recovery.service_layer.handlers import publish
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.clock import Clock
from shared.db import asyncpg_dsn
from shared.notify import listen

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=5)


class Scanner:
    def __init__(
        self,
        engine: AsyncEngine,
        uows: Callable[[], RecoveryUnitOfWork],
        clock: Clock,
        *,
        batch_size: int = 200,
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

    async def fire_one(self, uow: RecoveryUnitOfWork, r: Recovery, now: datetime) -> None:
        """Fire one run inside the batch's transaction, behind a savepoint of its own."""
        try:
            async with uow.session.begin_nested():
                if r.fire(now):
                    await publish(uow, r)
        except Exception as exc:
            log.exception("recovery %s could not fire; retrying later", r.recovery_id)
            r.pull_events()
            await uow.repo.fire_failed(r.recovery_id, now + RETRY_AFTER, repr(exc)[:500])

    async def fire_batch(self) -> int:
        """Fire one batch of due runs; returns how many were claimed."""
        now = self._clock.now()
        async with self._uows() as uow:
            runs = await uow.repo.claim_due(now, self._batch_size)
            for r in runs:
                await self.fire_one(uow, r, now)
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

"""Durable timers: due work kept in PostgreSQL, fired once by whichever replica gets there.

A service schedules a timer inside its own transaction (`schedule`), so the timer exists exactly
when the state that needs it does. `TimerRunner` sleeps until the earliest due timer (or until a
NOTIFY says an earlier one was scheduled, so there is no polling lag), claims due timers one at a
time with `FOR UPDATE SKIP LOCKED`, and runs the handler for the timer's kind in the same
transaction that marks it fired: the handler's changes, its events and the "fired" mark commit
together or not at all. A failing handler is retried later with a backoff; a restart loses
nothing because nothing lives in memory.

Lock order: a service's own transactions lock what a timer is about (a task's row, a
dealership's advisory lock) and then schedule or cancel its timers, which locks the timer's row.
A runner that claimed the timer's row first and let the handler take the other lock afterwards
would lock in the opposite order, and the two deadlock (seen in `forecourt simulate`: assignment's
SLA timer against a prospect won under its dealership's lock; PostgreSQL aborts one after a
second). A runner given `lock` takes those locks first: it finds the next due timer without
locking it, calls `lock(timer, uow)`, then claims that timer's row, if it is still due and free,
in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.clock import Clock
from shared.db import asyncpg_dsn
from shared.notify import listen
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "forecourt_timer"

U = TypeVar("U", bound=UnitOfWork)


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    key: str
    tenant_id: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int


_SCHEDULE = text(
    "INSERT INTO timer (kind, key, tenant_id, due_at, payload) "
    "VALUES (:kind, :key, :tenant_id, :due_at, CAST(:payload AS jsonb)) "
    "ON CONFLICT (kind, key) DO UPDATE SET due_at = excluded.due_at, "
    "payload = excluded.payload, tenant_id = excluded.tenant_id, fired_at = NULL, "
    "attempts = 0, last_error = NULL"
)
_CANCEL = text("DELETE FROM timer WHERE kind = :kind AND key = :key AND fired_at IS NULL")
_CANCEL_MANY = text(
    "DELETE FROM timer WHERE (kind, key) IN "
    "(SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:keys AS text[]))) AND fired_at IS NULL"
)
_CANCEL_MANY_ALL = text(
    "DELETE FROM timer WHERE (kind, key) IN "
    "(SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:keys AS text[])))"
)
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")
_CLAIM = text(
    "SELECT id, kind, key, tenant_id, due_at, payload, attempts FROM timer "
    "WHERE fired_at IS NULL AND due_at <= :now AND kind = ANY(:kinds) "
    "ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED"
)
# With a `lock`: the next due timer, not locked; then that one, if still due and free.
_PEEK = text(
    "SELECT id, kind, key, tenant_id, due_at, payload, attempts FROM timer "
    "WHERE fired_at IS NULL AND due_at <= :now AND kind = ANY(:kinds) "
    "ORDER BY due_at LIMIT 1"
)
_CLAIM_ID = text(
    "SELECT id, kind, key, tenant_id, due_at, payload, attempts FROM timer "
    "WHERE id = :id AND fired_at IS NULL AND due_at <= :now FOR UPDATE SKIP LOCKED"
)
_FIRED = text("UPDATE timer SET fired_at = :now WHERE id = :id")
_FAILED = text(
    "UPDATE timer SET attempts = attempts + 1, last_error = :error, due_at = :retry_at "
    "WHERE id = :id AND fired_at IS NULL"
)
_NEXT_DUE = text("SELECT min(due_at) FROM timer WHERE fired_at IS NULL AND kind = ANY(:kinds)")
_PURGE = text(
    "DELETE FROM timer WHERE id IN (SELECT id FROM timer WHERE fired_at < :before LIMIT 5000)"
)


async def schedule(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    tenant_id: str,
    due_at: datetime,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Create or move the timer (kind, key), in the caller's transaction."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    await session.execute(
        _SCHEDULE,
        {
            "kind": kind,
            "key": key,
            "tenant_id": tenant_id,
            "due_at": due_at,
            "payload": json.dumps(dict(payload or {}), default=str),
        },
    )
    await session.execute(_NOTIFY)


async def cancel(session: AsyncSession, *, kind: str, key: str) -> None:
    await session.execute(_CANCEL, {"kind": kind, "key": key})


@dataclass(frozen=True)
class Scheduled:
    """One timer of `schedule_many`: `schedule`'s arguments."""

    kind: str
    key: str
    tenant_id: str
    due_at: datetime
    payload: Mapping[str, Any]


async def schedule_many(session: AsyncSession, wanted: Sequence[Scheduled]) -> None:
    """`schedule` for many timers in one statement and one NOTIFY; (kind, key) at most once."""
    if not wanted:
        return
    if len({(t.kind, t.key) for t in wanted}) != len(wanted):
        raise ValueError("schedule_many: a (kind, key) given twice")
    if any(t.due_at.tzinfo is None for t in wanted):
        raise ValueError("due_at must be timezone-aware")
    ordered = sorted(wanted, key=lambda t: (t.kind, t.key))  # one lock order across replicas
    await session.execute(
        _SCHEDULE,
        [
            {
                "kind": t.kind,
                "key": t.key,
                "tenant_id": t.tenant_id,
                "due_at": t.due_at,
                "payload": json.dumps(dict(t.payload), default=str),
            }
            for t in ordered
        ],
    )
    await session.execute(_NOTIFY)


async def cancel_many(
    session: AsyncSession, keys: Iterable[tuple[str, str]], *, fired_too: bool = False
) -> None:
    """`cancel` for many (kind, key) in one statement; `fired_too` deletes fired ones as well."""
    rows = sorted(set(keys))
    if not rows:
        return
    query = _CANCEL_MANY_ALL if fired_too else _CANCEL_MANY
    await session.execute(
        query, {"kinds": [kind for kind, _ in rows], "keys": [key for _, key in rows]}
    )


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 300))


Handler = Callable[[Timer, U], Awaitable[None]]
# A timer taken by someone else between the look and the claim: look again after this pause.
MISSED_PAUSE = 0.02
_MISSED = object()


class TimerRunner(Generic[U]):
    def __init__(
        self,
        engine: AsyncEngine,
        uows: Callable[[], U],
        handlers: Mapping[str, Handler[U]],
        clock: Clock,
        *,
        max_sleep: float = 30.0,
        lock: Handler[U] | None = None,
    ) -> None:
        """`lock(timer, uow)`, if given, takes the locks the handlers will take (the row or
        advisory lock of what the timer is about) before the runner locks the timer's row:
        the order the service's own transactions lock in (see the module's docstring)."""
        self._engine = engine
        self._uows = uows
        self._handlers = dict(handlers)
        self._lock = lock
        self._kinds = sorted(self._handlers)
        self._clock = clock
        self._max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Look again now (a timer was scheduled here, or a test moved the clock)."""
        self._wake.set()

    async def fire_one(self) -> bool:
        """Fire one due timer, if any is free. True if one was fired or failed."""
        while True:
            outcome = await self._fire_next()
            if outcome is not _MISSED:
                return bool(outcome)
            await asyncio.sleep(MISSED_PAUSE)  # someone else has it: look again

    async def _fire_next(self) -> object:
        """Fire the next due timer: True if fired or failed, False if none is due, `_MISSED`
        if the one found (with a `lock`) was fired, moved or taken meanwhile."""
        now = self._clock.now()
        params = {"now": now, "kinds": self._kinds}
        async with self._uows() as uow:
            query = _CLAIM if self._lock is None else _PEEK
            row = (await uow.session.execute(query, params)).first()
            if row is None:
                return False
            timer = Timer(**row._mapping)
            try:
                if self._lock is not None:
                    await self._lock(timer, uow)
                    params = {"id": timer.id, "now": now}
                    row = (await uow.session.execute(_CLAIM_ID, params)).first()
                    if row is None:
                        return _MISSED  # rolled back on the way out: the locks go too
                    timer = Timer(**row._mapping)
                await self._handlers[timer.kind](timer, uow)
                await uow.session.execute(_FIRED, {"now": now, "id": timer.id})
                await uow.commit()
                return True
            except Exception as exc:
                await uow.rollback()
                log.exception(
                    "timer %s/%s failed (attempt %d)", timer.kind, timer.key, timer.attempts + 1
                )
                error = repr(exc)[:500]
        # The handler's transaction is gone; record the failure on its own.
        async with self._engine.begin() as conn:
            await conn.execute(
                _FAILED,
                {"id": timer.id, "error": error, "retry_at": now + retry_delay(timer.attempts)},
            )
        return True

    async def fire_due(self) -> int:
        fired = 0
        while await self.fire_one():
            fired += 1
        return fired

    async def _sleep_seconds(self) -> float:
        async with self._engine.connect() as conn:
            next_due = await conn.scalar(_NEXT_DUE, {"kinds": self._kinds})
        if next_due is None:
            return self._max_sleep
        wait: float = (next_due - self._clock.now()).total_seconds()
        # A due timer another replica holds is skipped, not waited on: do not spin on it.
        return max(0.05, min(wait, self._max_sleep))

    async def _listen(self) -> None:
        dsn = asyncpg_dsn(self._engine.url.render_as_string(hide_password=False))
        await listen(dsn, NOTIFY_CHANNEL, self._wake, self._stopping)

    async def purge(self, keep: timedelta = timedelta(days=7)) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_PURGE, {"before": self._clock.now() - keep})

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen())
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    await self.fire_due()
                    pause = await self._sleep_seconds()
                except Exception as exc:  # database down: keep trying
                    log.warning("timer runner: %r", exc)
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

"""Durable timers against a real PostgreSQL: fire once, survive restarts, wake promptly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import FrozenClock, SystemClock
from shared.db import create_engine, session_factory
from shared.tables import add_messaging_tables, timer_table
from shared.timers import Timer, TimerRunner, cancel, schedule
from shared.uow import UnitOfWork

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    metadata = MetaData()
    add_messaging_tables(metadata)
    timer_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(text("CREATE TABLE fired (key text, at timestamptz)"))
    yield engine
    await engine.dispose()


def _uows(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    return lambda: UnitOfWork(sessions)


async def _record(timer: Timer, uow: UnitOfWork) -> None:
    await uow.session.execute(
        text("INSERT INTO fired VALUES (:k, :at)"), {"k": timer.key, "at": timer.due_at}
    )


async def _schedule(engine: AsyncEngine, key: str, due: datetime, kind: str = "sla") -> None:
    async with _uows(engine)() as uow:
        await schedule(uow.session, kind=kind, key=key, tenant_id="t", due_at=due)
        await uow.commit()


async def _fired(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT key FROM fired ORDER BY key"))
        return [r.key for r in rows]


async def test_fires_only_when_due_and_only_once(engine: AsyncEngine) -> None:
    clock = FrozenClock(T0)
    runner = TimerRunner(engine, _uows(engine), {"sla": _record}, clock)
    await _schedule(engine, "a", T0 + timedelta(minutes=15))
    await _schedule(engine, "b", T0 + timedelta(minutes=30))
    assert await runner.fire_due() == 0
    clock.advance(timedelta(minutes=15))
    assert await runner.fire_due() == 1
    assert await runner.fire_due() == 0
    clock.advance(timedelta(hours=1))
    assert await runner.fire_due() == 1
    assert await _fired(engine) == ["a", "b"]


async def test_rescheduling_moves_the_timer_and_cancel_removes_it(engine: AsyncEngine) -> None:
    clock = FrozenClock(T0)
    runner = TimerRunner(engine, _uows(engine), {"sla": _record}, clock)
    await _schedule(engine, "a", T0 + timedelta(minutes=5))
    await _schedule(engine, "a", T0 + timedelta(minutes=50))  # moved, not doubled
    await _schedule(engine, "b", T0 + timedelta(minutes=5))
    async with _uows(engine)() as uow:
        await cancel(uow.session, kind="sla", key="b")
        await uow.commit()
    clock.advance(timedelta(minutes=10))
    assert await runner.fire_due() == 0
    clock.advance(timedelta(hours=1))
    assert await runner.fire_due() == 1
    assert await _fired(engine) == ["a"]


async def test_many_replicas_fire_each_timer_once(engine: AsyncEngine) -> None:
    clock = FrozenClock(T0)
    for i in range(200):
        await _schedule(engine, f"k{i:03d}", T0 - timedelta(seconds=i))
    runners = [TimerRunner(engine, _uows(engine), {"sla": _record}, clock) for _ in range(4)]
    counts = await asyncio.gather(*(r.fire_due() for r in runners))
    assert sum(counts) == 200
    fired = await _fired(engine)
    assert len(fired) == len(set(fired)) == 200


async def test_a_failing_handler_changes_nothing_and_is_retried(engine: AsyncEngine) -> None:
    clock = FrozenClock(T0)
    calls = 0

    async def flaky(timer: Timer, uow: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        await _record(timer, uow)
        if calls == 1:
            raise RuntimeError("database hiccup")

    runner = TimerRunner(engine, _uows(engine), {"sla": flaky}, clock)
    await _schedule(engine, "a", T0)
    assert await runner.fire_one()
    assert await _fired(engine) == []  # the handler's insert was rolled back
    assert await runner.fire_due() == 0  # backed off, not looping
    clock.advance(timedelta(seconds=5))
    assert await runner.fire_due() == 1
    assert await _fired(engine) == ["a"]


async def test_timer_survives_a_restart_and_wakes_without_polling(engine: AsyncEngine) -> None:
    # First runner stops before the timer is due: nothing is lost with it.
    first = TimerRunner(engine, _uows(engine), {"sla": _record}, SystemClock())
    task = asyncio.create_task(first.run())
    await _schedule(engine, "later", datetime.now(UTC) + timedelta(hours=1))
    first.stop()
    await task
    # A new runner with an hour-long idle sleep: only the NOTIFY of a new due timer wakes it.
    second = TimerRunner(engine, _uows(engine), {"sla": _record}, SystemClock(), max_sleep=3600)
    task = asyncio.create_task(second.run())
    await asyncio.sleep(0.5)
    await _schedule(engine, "now", datetime.now(UTC))
    async with asyncio.timeout(10):
        while await _fired(engine) != ["now"]:
            await asyncio.sleep(0.05)
    second.stop()
    await task
    async with engine.connect() as conn:
        pending = (
            (await conn.execute(text("SELECT key FROM timer WHERE fired_at IS NULL")))
            .scalars()
            .all()
        )
    assert pending == ["later"]


async def test_only_registered_kinds_are_claimed(engine: AsyncEngine) -> None:
    clock = FrozenClock(T0)
    await _schedule(engine, "x", T0, kind="someone-else")
    runner = TimerRunner(engine, _uows(engine), {"sla": _record}, clock)
    assert await runner.fire_due() == 0


# -- a lock taken before the timer's row (`TimerRunner(lock=...)`) ------------------------------

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")
_WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def _take(timer: Timer, uow: UnitOfWork) -> None:
    """What the timer is about, locked (as assignment locks a prospect's dealership)."""
    await uow.session.execute(_LOCK, {"k": timer.key})


async def test_a_runner_with_a_lock_waits_for_it_before_the_timer_so_a_writer_never_deadlocks(
    engine: AsyncEngine,
) -> None:
    """A service's transaction locks what a timer is about, then cancels the timer (assignment:
    a prospect won under its dealership's lock). A runner that locked the timer's row first and
    then waited for that lock closed a cycle with it (PostgreSQL's deadlock error in one of
    them). Given the lock, the runner waits for it holding nothing, and finds the timer gone."""
    clock = FrozenClock(T0)
    entered: list[str] = []

    async def handler(timer: Timer, uow: UnitOfWork) -> None:
        entered.append(timer.key)
        await _take(timer, uow)
        await _record(timer, uow)

    await _schedule(engine, "p1", T0)
    runner = TimerRunner(engine, _uows(engine), {"sla": handler}, clock, lock=_take)
    async with _uows(engine)() as writer:
        await writer.session.execute(_LOCK, {"k": "p1"})
        firing = asyncio.create_task(runner.fire_one())
        async with asyncio.timeout(30):  # until the runner waits for the lock
            while not await _scalar(engine, _WAITING):
                await asyncio.sleep(0.02)
        await cancel(writer.session, kind="sla", key="p1")  # would wait on a claimed row
        await writer.commit()
    assert await firing is False  # the timer went while it waited: nothing left to fire
    assert entered == []
    assert await _fired(engine) == []


async def test_a_runner_with_a_lock_fires_what_is_due_once_across_replicas(
    engine: AsyncEngine,
) -> None:
    clock = FrozenClock(T0)
    for i in range(100):
        await _schedule(engine, f"k{i:03d}", T0 - timedelta(seconds=i))
    await _schedule(engine, "later", T0 + timedelta(minutes=5))
    runners = [
        TimerRunner(engine, _uows(engine), {"sla": _record}, clock, lock=_take) for _ in range(4)
    ]
    counts = await asyncio.gather(*(r.fire_due() for r in runners))
    assert sum(counts) == 100
    fired = await _fired(engine)
    assert len(fired) == len(set(fired)) == 100
    assert "later" not in fired


async def _scalar(engine: AsyncEngine, query: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(query)

"""The scanner fires each due step once: across a crash in the middle of a batch and a restart,
with two replicas on the same due rows, past a run that fails and a batch the database refuses."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from recovery.adapters.repository import RecoveryRepository
from recovery.domain.recovery import Recovery as Run
from shared.contracts import LostReasonCode
from tests.integration.recovery.conftest import DAY, T0, Recovery, lead_lost, person

pytestmark = pytest.mark.integration

Start = Callable[..., AbstractAsyncContextManager[Recovery]]


async def _email_runs(svc: Recovery, n: int) -> list[Any]:
    """`n` email-only losses (sent by the scanner itself), all due on day 3."""
    losses = [
        lead_lost(LostReasonCode.POLLUTION_NO_PHONE, who=person(phone=None)) for _ in range(n)
    ]
    await asyncio.gather(*(svc.publish(lost) for lost in losses))
    await svc.events.wait_for("recovery.scheduled", n, within=60)
    return losses


def _sent_once_each(events: list[dict[str, Any]], losses: list[Any]) -> None:
    sent = Counter(
        e["lead_id"]
        for e in events
        if e["event_type"] == "recovery.attempted" and e["payload"]["step"] == 1
    )
    assert set(sent) == {str(lost.lead_id) for lost in losses}
    assert set(sent.values()) == {1}
    step_2 = Counter(
        e["lead_id"]
        for e in events
        if e["event_type"] == "recovery.scheduled" and e["payload"]["step"] == 2
    )
    assert set(step_2.values()) == {1} and len(step_2) == len(losses)


async def test_a_crash_in_the_middle_of_a_batch_loses_and_repeats_nothing(
    running_recovery: Start,
) -> None:
    async with running_recovery(run_scanner=False, scanner_batch_size=25) as one:
        losses = await _email_runs(one, 60)
        one.clock.set(T0 + 3 * DAY)
        scanner = one.app.state.scanner
        fire_one, calls = scanner.fire_one, 0

        async def crash_at_the_tenth(r: Run, now: datetime) -> Any:
            nonlocal calls
            calls += 1
            if calls == 35:  # the second batch, ten runs in: the process dies here
                raise asyncio.CancelledError
            return await fire_one(r, now)

        scanner.fire_one = crash_at_the_tenth
        with pytest.raises(asyncio.CancelledError):
            await scanner.fire_due()
        await one.events.wait_for("recovery.attempted", 25)  # the first batch committed
        await one.events.settle()
        assert len(one.events.of("recovery.attempted")) == 25
        clock = one.clock
    # Restart on the same database: the rest fires, the first batch does not fire again.
    async with running_recovery(run_scanner=False, clock=clock) as two:
        assert await two.app.state.scanner.fire_due() == 35
        assert await two.app.state.scanner.fire_due() == 0
        await two.events.wait_for("recovery.attempted", 35)
        events = one.events.seen + await two.events.settle()
        _sent_once_each(events, losses)


async def test_two_replicas_on_the_same_due_batch_fire_each_step_once(
    running_recovery: Start,
) -> None:
    async with (
        running_recovery(run_scanner=False, scanner_batch_size=20) as one,
        running_recovery(run_scanner=False, scanner_batch_size=20, clock=one.clock) as two,
    ):
        losses = await _email_runs(one, 100)
        one.clock.set(T0 + 3 * DAY)
        # Replica one takes a batch and is held inside it, its 20 rows locked, while replica
        # two scans the same due rows: it must skip those 20, fire the 80 others, never wait.
        inside, release = asyncio.Event(), asyncio.Event()
        first = one.app.state.scanner.fire_one

        async def held(r: Run, now: datetime) -> Any:
            if not inside.is_set():
                inside.set()
                await release.wait()
            return await first(r, now)

        one.app.state.scanner.fire_one = held
        one_firing = asyncio.create_task(one.app.state.scanner.fire_due())
        await inside.wait()
        assert await two.app.state.scanner.fire_due() == 80
        release.set()
        assert await one_firing == 20
        assert await one.app.state.scanner.fire_due() == 0
        await one.events.wait_for("recovery.attempted", 100, within=60)
        _sent_once_each(await one.events.settle(), losses)


async def test_a_run_that_fails_is_retried_later_and_the_batch_goes_on(
    svc: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    losses = await _email_runs(svc, 5)
    bad = losses[2].lead_id
    original = Run.fire

    def fire(self: Run, now: datetime) -> bool:
        if self.lead_id == bad:
            raise RuntimeError("boom")
        return original(self, now)

    monkeypatch.setattr(Run, "fire", fire)
    assert await svc.move_to(T0 + 3 * DAY) == 5
    await svc.events.wait_for("recovery.attempted", 4)
    run = await svc.run(bad)
    assert run["state"] == "scheduled" and run["step"] == 1
    monkeypatch.setattr(Run, "fire", original)
    assert await svc.move(timedelta(minutes=1)) == 0  # retried later, not in a loop
    assert await svc.move(timedelta(minutes=5)) == 1
    await svc.events.wait_for("recovery.attempted", 5)


async def test_a_batch_the_database_refuses_is_fired_one_run_at_a_time(
    svc: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run's write fails in PostgreSQL: the batch's single UPDATE fails with it, so the
    batch is fired again run by run; the others fire, that one is retried later."""
    losses = await _email_runs(svc, 5)
    bad = losses[2].lead_id
    original = RecoveryRepository.save_fired

    async def save_fired(self: RecoveryRepository, runs: Sequence[Run]) -> None:
        if any(r.lead_id == bad for r in runs):
            await self.session.execute(text("SELECT 1 / 0"))  # a real error from the database
        await original(self, runs)

    monkeypatch.setattr(RecoveryRepository, "save_fired", save_fired)
    assert await svc.move_to(T0 + 3 * DAY) == 5
    await svc.events.wait_for("recovery.attempted", 4)
    run = await svc.run(bad)
    assert run["state"] == "scheduled" and run["step"] == 1
    monkeypatch.setattr(RecoveryRepository, "save_fired", original)
    assert await svc.move(timedelta(minutes=1)) == 0  # retried later, not in a loop
    assert await svc.move(timedelta(minutes=5)) == 1
    await svc.events.wait_for("recovery.attempted", 5)
    _sent_once_each(await svc.events.settle(), losses)

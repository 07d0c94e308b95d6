"""Durable timers with several replicas: each SLA breach published once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from crm_queue.service_layer.lead_events import SLA_TIMER
from shared import timers
from shared.clock import FrozenClock
from tests.integration.crm_queue.conftest import T0, Crm, Handled, duplicate, ingested

pytestmark = pytest.mark.integration


async def test_two_running_replicas_racing_for_due_sla_timers_publish_each_breach_once(
    running_crm: Callable[..., AbstractAsyncContextManager[Crm]],
) -> None:
    clock = FrozenClock(T0)
    # Both replicas are up, their timer loops running, before anything is due.
    async with running_crm(clock=clock) as one, running_crm(clock=clock) as two:
        leads = [ingested() for _ in range(20)]
        for lead in leads:
            await one.publish(lead)
        for lead in leads:
            await one.row_when(lead.lead_id, lambda r: True)
        clock.advance(timedelta(minutes=30))
        # The SLAs run out: both replicas go for the same due timers at the same moment.
        one.app.state.timers.wake()
        two.app.state.timers.wake()
        await asyncio.gather(one.app.state.timers.fire_due(), two.app.state.timers.fire_due())

        async with asyncio.timeout(15):
            while len(one.events.of("lead.sla_breached") + two.events.of("lead.sla_breached")) < 20:
                await asyncio.gather(one.events.settle(quiet=0.2), two.events.settle(quiet=0.2))
        await one.events.settle(quiet=1.0)
        await two.events.settle(quiet=0.2)
        breaches = one.events.of("lead.sla_breached") + two.events.of("lead.sla_breached")
        per_lead = Counter(b["lead_id"] for b in breaches)
        assert [lead for lead, n in per_lead.items() if n > 1] == []  # published twice
        assert set(per_lead) == {str(lead.lead_id) for lead in leads}


ALWAYS_OPEN = {
    "timezone": "UTC",
    "week": {
        day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    },
}
# Two attempts an hour apart, then the pool (for 30 days by default).
SHORT_CADENCE = {
    "hours": ALWAYS_OPEN,
    "first_round": ["PT1H"],
    "second_round": [],
    "min_attempts": 2,
}


async def pooled(crm: Crm, **kw: Any) -> Any:
    """A lead of d1 sent to the pool by its second unanswered attempt."""
    lead = ingested(**kw)
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    r = await crm.client.put(
        "/v1/dealerships/d1/policy", json=SHORT_CADENCE, headers=crm.staff("manager")
    )
    assert r.status_code == 200, r.text
    for _ in range(2):
        await crm.act(lead.lead_id, "claim")
        r = await crm.act(lead.lead_id, "attempts", {"channel": "call", "outcome": "no_answer"})
        assert r.status_code == 201, r.text
        crm.clock.advance(timedelta(hours=1))
    assert r.json()["state"] == "pool"
    return lead


async def test_a_lead_left_in_the_pool_is_closed_as_not_reached_by_a_durable_timer(
    crm: Crm,
) -> None:
    lead = await pooled(crm, correlation_id="web-9")
    attempts = await crm.events.wait_for("lead.contact_attempted", n=2, lead_id=lead.lead_id)
    last = max(attempts, key=lambda e: e["payload"]["attempt_number"])
    assert await crm.move(timedelta(days=29)) == 0
    assert await crm.move(timedelta(days=1)) == 1
    [lost] = await crm.events.wait_for("lead.lost", lead_id=lead.lead_id)
    payload = lost["payload"]
    assert (payload["reason_code"], payload["automatic"], payload["agent_id"]) == (
        "not_reached.max_attempts",
        True,
        None,
    )
    assert payload["attempts"] == 2
    assert (lost["causation_id"], lost["correlation_id"]) == (last["event_id"], "web-9")
    task = await crm.task(lead.lead_id)
    assert (task["state"], task["outcome"]) == ("lost", "not_reached.max_attempts")
    row = await crm.row(lead.lead_id)
    assert row is not None and row["closed_by"] == "crm-queue"
    assert await crm.move(timedelta(days=30)) == 0  # fired once


async def test_a_pool_lead_that_asks_again_is_not_closed(crm: Crm, handled: Handled) -> None:
    lead = await pooled(crm)
    repeat = duplicate(lead, crm.clock.now())
    await crm.publish(repeat)
    await handled.wait(repeat.event_id)
    assert (await crm.task(lead.lead_id))["state"] == "open"
    assert await crm.move(timedelta(days=31)) == 0
    assert (await crm.task(lead.lead_id))["state"] == "open"
    await crm.events.settle()
    assert crm.events.of("lead.lost") == []


async def test_a_bought_list_does_not_make_fifteen_minute_slas(crm: Crm) -> None:
    """T0 is a Monday 10:00 UTC; the default policy is always open."""
    listed = [ingested(kind="list") for _ in range(30)]
    met_at_a_fair = ingested(kind="event")
    web = ingested(kind="website", received_at=T0 - timedelta(minutes=5))
    for lead in [*listed, met_at_a_fair, web]:
        await crm.publish(lead)
    tasks = {lead.lead_id: await crm.task(lead.lead_id) for lead in [*listed, met_at_a_fair, web]}
    assert {tasks[lead.lead_id]["sla_due_at"] for lead in listed} == {"2026-03-06T00:00:00Z"}
    assert tasks[met_at_a_fair.lead_id]["sla_due_at"] == "2026-03-04T00:00:00Z"
    assert tasks[web.lead_id]["sla_due_at"] == "2026-03-02T10:10:00Z"
    assert tasks[web.lead_id]["source_kind"] == "website"
    # The website lead comes first in the queue; an hour later only it has breached.
    r = await crm.client.get("/v1/queue", params={"limit": 50}, headers=crm.staff())
    queue = [t["lead_id"] for t in r.json()]
    assert queue[0] == str(web.lead_id)
    assert queue[1] == str(met_at_a_fair.lead_id)
    assert await crm.move(timedelta(hours=1)) == 1
    assert await crm.move(timedelta(days=1, hours=14)) == 1  # the event lead, end of Tuesday
    assert await crm.move(timedelta(days=2)) == 30  # the list, end of Thursday


async def test_an_attempt_made_while_the_sla_timer_falls_due_does_not_deadlock_the_runner(
    crm: Crm,
) -> None:
    """An agent's attempt locks the task's row, then cancels its SLA timer; the runner firing
    that timer at that moment takes the task's row before the timer's (`TimerRunner(lock=...)`),
    so it waits, then finds the timer gone. The other way round the two deadlocked."""
    lead = ingested()
    await crm.publish(lead)
    await crm.row_when(lead.lead_id, lambda r: True)
    crm.clock.advance(timedelta(days=1))  # the SLA timer is due; nothing fired it yet
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with crm.app.state.uow_factory() as uow:
        assert await uow.repo.get("acme", lead.lead_id) is not None  # locked, as an attempt does
        firing = asyncio.create_task(crm.app.state.timers.fire_due())
        async with asyncio.timeout(30):  # until the runner waits for the task's row
            while True:
                async with crm.app.state.runtime.engine.connect() as conn:
                    if await conn.scalar(waiting):
                        break
                await asyncio.sleep(0.02)
        await timers.cancel(uow.session, kind=SLA_TIMER, key=str(lead.lead_id))
        await uow.commit()
    assert await firing == 0  # nothing failed, nothing left due: the timer went
    await crm.events.settle()
    assert crm.events.of("lead.sla_breached") == []

"""Two replicas on one database, 200 qualifications at the same moment (each delivered twice):
no consultant ever exceeds the cap and no prospect is assigned twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from assignment.service_layer import handlers
from shared.settings import CommonSettings
from tests.integration.assignment.conftest import Assignment, qualified

pytestmark = pytest.mark.integration

CONSULTANTS = 5
CAP = 30  # 150 places for 200 prospects: the cap is contended, 50 must wait


async def _all(svc: Assignment, state: str) -> list[dict[str, Any]]:
    r = await svc.client.get(f"/v1/prospects?state={state}&limit=1000", headers=svc.staff())
    assert r.status_code == 200
    return list(r.json())


async def test_200_concurrent_qualifications_over_two_replicas_respect_the_cap(
    running_assignment: Callable[..., AbstractAsyncContextManager[Assignment]],
    common_settings: CommonSettings,
) -> None:
    # Prefetch 1: the broker hands the messages out to both replicas' consumers in turn.
    common = common_settings.model_copy(update={"prefetch": 1})
    async with (
        running_assignment(run_timers=False, common=common) as one,
        running_assignment(run_timers=False, common=common, clock=one.clock) as two,
    ):
        for i in range(CONSULTANTS):
            await one.add_consultant(f"c{i}", cap=CAP)
        leads = [qualified() for _ in range(200)]
        await asyncio.gather(*(one.publish(lead) for lead in leads for _ in range(2)))
        async with asyncio.timeout(120):
            while True:
                open_, waiting = await _all(one, "open"), await _all(two, "unassigned")
                if len(open_) + len(waiting) == 200:
                    break
                await asyncio.sleep(0.2)
        assert len(open_) == CONSULTANTS * CAP and len(waiting) == 200 - CONSULTANTS * CAP
        loads = Counter(p["consultant_id"] for p in open_)
        assert max(loads.values()) <= CAP and len(loads) == CONSULTANTS
        r = await one.client.get("/v1/consultants", headers=one.staff())
        assert all(c["open_prospects"] == CAP for c in r.json())
        await one.events.wait_for("prospect.assigned", n=CONSULTANTS * CAP, within=60)
        events = await one.events.settle()
        assigned = Counter(e["lead_id"] for e in events if e["event_type"] == "prospect.assigned")
        assert len(assigned) == CONSULTANTS * CAP and set(assigned.values()) == {1}
        # A freed place goes to exactly one of those waiting, on whichever replica.
        won = open_[0]
        r = await two.act(
            won["lead_id"],
            "win",
            {"vehicle": {"make": "Volvo"}, "price": "1.00", "currency": "EUR"},
            headers=two.consultant(won["consultant_id"]),
        )
        assert r.status_code == 200, r.text
        assert len(await _all(one, "open")) == CONSULTANTS * CAP
        assert len(await _all(one, "unassigned")) == 200 - CONSULTANTS * CAP - 1


async def test_200_qualifications_handled_at_once_on_two_replicas_never_exceed_the_cap(
    running_assignment: Callable[..., AbstractAsyncContextManager[Assignment]],
) -> None:
    """The consumers above take one message at a time per replica; here the handler itself
    runs 200 times at once, half on each replica's connection pool, as many consumer
    workers would. Each replica runs as many at a time as its pool has connections (5 + 2 by
    default): the rest would otherwise queue for a connection, not contend for the cap."""
    async with (
        running_assignment(run_timers=False) as one,
        running_assignment(run_timers=False, clock=one.clock) as two,
    ):
        for i in range(CONSULTANTS):
            await one.add_consultant(f"c{i}", cap=CAP)
        leads = [qualified() for _ in range(200)]
        now = one.clock.now()
        slots = {id(r): asyncio.Semaphore(7) for r in (one, two)}

        async def handle(replica: Assignment, lead: Any) -> None:
            async with slots[id(replica)]:
                await handlers.on_lead_qualified(replica.app.state.uow_factory(), lead, now)

        await asyncio.gather(*(handle((one, two)[n % 2], lead) for n, lead in enumerate(leads)))
        open_ = await _all(one, "open")
        assert len(open_) == CONSULTANTS * CAP
        assert max(Counter(p["consultant_id"] for p in open_).values()) == CAP
        assert len(await _all(two, "unassigned")) == 200 - CONSULTANTS * CAP

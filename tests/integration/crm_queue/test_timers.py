"""Durable timers with several replicas: each SLA breach published once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import pytest

from shared.clock import FrozenClock
from tests.integration.crm_queue.conftest import T0, Crm, ingested

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

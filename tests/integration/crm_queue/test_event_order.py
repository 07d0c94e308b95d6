"""Events of one lead in any order, redelivered, or handled by two replicas at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest

from crm_queue.service_layer import handlers
from shared.clock import FrozenClock
from tests.integration.crm_queue.conftest import T0, Crm, Handled, duplicate, ingested

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)
# Differ between any two leads, whatever the order of their events.
OWN = {"lead_id", "task_id", "correlation_id", "created_at", "updated_at"}


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in OWN}


def timers(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(t["kind"], t["due_at"], t["fired_at"]) for t in rows]


async def test_a_duplicate_overtaking_its_lead_gives_the_in_order_task(crm: Crm) -> None:
    received, repeat = T0 - 5 * M, T0 - 2 * M

    in_order = ingested(received_at=received, email="ann@example.com")
    await crm.publish(in_order)
    await crm.row_when(in_order.lead_id, lambda r: True)
    await crm.publish(duplicate(in_order, repeat))
    expected = await crm.row_when(in_order.lead_id, lambda r: r["enquiries"] == 2)

    overtaken = ingested(received_at=received, email="ann@example.com")
    await crm.publish(duplicate(overtaken, repeat))
    provisional = await crm.row_when(overtaken.lead_id, lambda r: True)
    assert provisional["received_at"] == repeat  # all it knows so far
    await crm.publish(overtaken)
    got = await crm.row_when(overtaken.lead_id, lambda r: r["ingested"])

    assert comparable(got) == comparable(expected)
    assert got["correlation_id"] == overtaken.correlation_id  # the lead's chain, not the repeat's
    assert (got["received_at"], got["sla_due_at"]) == (received, received + 15 * M)
    assert (got["enquiries"], got["last_enquiry_at"]) == (2, repeat)
    assert timers(await crm.timers_of(overtaken.lead_id)) == timers(
        await crm.timers_of(in_order.lead_id)
    )
    # The SLA runs from the first enquiry: both breach at received + 15 minutes.
    assert await crm.move(10 * M) == 2
    breaches = await crm.events.wait_for("lead.sla_breached", n=2)
    assert {b["payload"]["due_at"] for b in breaches} == {"2026-03-02T10:10:00Z"}


async def test_two_replicas_taking_a_lead_and_its_repeat_at_once_do_not_collide(
    running_crm: Callable[..., AbstractAsyncContextManager[Crm]],
) -> None:
    """A bulk file with repeated people: lead.ingested on one replica, lead.duplicate of the same
    lead on another, both finding no task yet. Neither may fail on the task's key."""
    clock = FrozenClock(T0)
    async with (
        running_crm(clock=clock, run_timers=False) as one,
        running_crm(clock=clock, run_timers=False) as two,
    ):
        leads = [ingested(received_at=T0 - 5 * M) for _ in range(10)]
        calls = []
        for lead in leads:
            calls.append(handlers.on_lead_ingested(one.app.state.uow_factory(), lead, T0))
            repeat = duplicate(lead, T0 - 2 * M)
            calls.append(handlers.on_lead_duplicate(two.app.state.uow_factory(), repeat, T0))
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        for lead in leads:
            row = await one.row(lead.lead_id)
            assert row is not None
            assert (row["ingested"], row["enquiries"]) == (True, 2)
            assert (row["received_at"], row["last_enquiry_at"]) == (T0 - 5 * M, T0 - 2 * M)
            assert row["sla_due_at"] == T0 + 10 * M


@pytest.mark.parametrize("order", ["in order", "repeat first"])
async def test_redelivered_lead_and_repeat_change_nothing(
    crm: Crm, handled: Handled, order: str
) -> None:
    lead = ingested(received_at=T0 - 5 * M)
    repeat = duplicate(lead, T0 - 2 * M)
    both = [lead, repeat] if order == "in order" else [repeat, lead]
    for event in both:
        await crm.publish(event)
        await handled.wait(event.event_id)
    assert await crm.move(10 * M) == 1
    await crm.events.wait_for("lead.sla_breached", lead_id=lead.lead_id)
    task, its_timers = await crm.row(lead.lead_id), await crm.timers_of(lead.lead_id)
    assert task is not None and task["enquiries"] == 2
    published = [e["event_id"] for e in await crm.events.settle() if e["producer"] == "crm-queue"]
    assert len(published) == 1

    for event in both:  # the broker delivers each again (same event id)
        await crm.publish(event)
        await handled.wait(event.event_id, times=2)

    assert await crm.row(lead.lead_id) == task  # enquiries, SLA, every column: untouched
    assert await crm.timers_of(lead.lead_id) == its_timers
    assert await crm.move(timedelta(hours=1)) == 0  # no SLA timer set going again
    again = [e["event_id"] for e in await crm.events.settle() if e["producer"] == "crm-queue"]
    assert again == published

"""A consultant must act in time: SLA alerts, hot reassignment after 48 h, rotation. Durable
timers fired by moving a frozen clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from assignment.service_layer.allocation import SLA_TIMER, cancel_accountability
from tests.integration.assignment.conftest import T0, Assignment, qualified, reactivated

pytestmark = pytest.mark.integration


async def _hot_prospect_of(svc: Assignment, consultant: str) -> Any:
    lead = qualified()
    await svc.publish(reactivated(lead, T0))
    await svc.prospect(lead.lead_id, until=lambda p: p["consultant_id"] == consultant)
    return lead


async def test_hot_prospect_escalates_after_24h_and_moves_after_48h(svc: Assignment) -> None:
    await svc.add_consultant("ada")
    lead = await _hot_prospect_of(svc, "ada")
    await svc.add_consultant("bob")
    await svc.move(timedelta(hours=23))
    p = await svc.prospect(lead.lead_id)
    assert p["escalated_at"] is None
    await svc.move(timedelta(hours=1, seconds=1))
    p = await svc.prospect(lead.lead_id)
    assert p["escalated_at"] is not None and p["consultant_id"] == "ada"
    r = await svc.client.get("/v1/prospects?escalated=true", headers=svc.staff())
    assert [x["lead_id"] for x in r.json()] == [str(lead.lead_id)]
    # The managers' alert is on the wire too, through the outbox.
    [alert] = await svc.events.wait_for("prospect.escalated", lead_id=lead.lead_id)
    assert alert["producer"] == "assignment" and alert["dealership_id"] == "d1"
    assert alert["payload"]["consultant_id"] == "ada" and alert["payload"]["hot"] is True
    assert alert["payload"]["reason"] == "sla_missed"
    assert alert["payload"]["sla_due_at"].startswith("2026-03-03T10:00")
    assert alert["payload"]["escalated_at"].startswith("2026-03-03T10:00:01")
    assert alert["correlation_id"]
    # The SLA timer delivered again (its fired mark lost): no second alert.
    async with svc.app.state.runtime.engine.begin() as conn:
        again = await conn.execute(
            text("UPDATE timer SET fired_at = NULL WHERE kind = :kind AND key = :key"),
            {"kind": SLA_TIMER, "key": str(lead.lead_id)},
        )
        assert again.rowcount == 1
    assert await svc.move(timedelta(seconds=1)) == 1
    await svc.events.settle()
    assert len(svc.events.of("prospect.escalated")) == 1
    await svc.move(timedelta(hours=24) - timedelta(seconds=1))
    p = await svc.prospect(lead.lead_id)
    assert p["consultant_id"] == "bob"
    assert p["reason"] == "not_acted_48h" and p["escalated_at"] is None
    [moved] = await svc.events.wait_for("prospect.reassigned")
    assert moved["payload"]["from_consultant_id"] == "ada"
    assert moved["payload"]["to_consultant_id"] == "bob"
    assert moved["payload"]["reason"] == "not_acted_48h"
    assert moved["payload"]["hot"] is True


async def test_acting_in_time_stops_escalation_and_reassignment(svc: Assignment) -> None:
    await svc.add_consultant("cy")
    lead = await _hot_prospect_of(svc, "cy")
    await svc.add_consultant("di")
    await svc.move(timedelta(hours=2))
    r = await svc.act(
        lead.lead_id,
        "activities",
        {
            "kind": "appointment",
            "note": "showroom Saturday",
            "next_follow_up_at": "2026-03-07T09:00:00Z",
        },
        headers=svc.consultant("cy"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["acted_at"].startswith("2026-03-02T12:00")
    await svc.move(timedelta(hours=50))
    p = await svc.prospect(lead.lead_id)
    assert p["consultant_id"] == "cy" and p["escalated_at"] is None
    assert p["next_follow_up_at"].startswith("2026-03-07T09:00")
    assert not svc.events.of("prospect.reassigned")


async def test_a_hot_prospect_stays_when_nobody_else_is_eligible(svc: Assignment) -> None:
    await svc.add_consultant("eve")
    lead = await _hot_prospect_of(svc, "eve")
    await svc.move(timedelta(hours=49))
    p = await svc.prospect(lead.lead_id)
    assert p["consultant_id"] == "eve" and p["escalated_at"] is not None
    assert not svc.events.of("prospect.reassigned")
    [alert] = await svc.events.wait_for("prospect.escalated", lead_id=lead.lead_id)
    assert alert["payload"]["consultant_id"] == "eve" and alert["payload"]["reason"] == "sla_missed"
    await svc.events.settle()
    assert len(svc.events.of("prospect.escalated")) == 1  # the 48 h timer alerts no second time


async def test_normal_sla_is_configurable(svc: Assignment) -> None:
    await svc.add_consultant("fay")
    r = await svc.client.put(
        "/v1/dealerships/d1/routing", json={"normal_sla_hours": 4}, headers=svc.staff()
    )
    assert r.status_code == 200
    lead = qualified()
    await svc.publish(lead)
    p = await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open")
    assert p["respond_by"].startswith("2026-03-02T14:00")
    await svc.move(timedelta(hours=4))
    assert (await svc.prospect(lead.lead_id))["escalated_at"] is not None


async def test_rotation_moves_an_untouched_new_prospect_to_the_next_consultant(
    svc: Assignment,
) -> None:
    for who in ("gil", "hue", "ian"):
        await svc.add_consultant(who)
    r = await svc.client.put(
        "/v1/dealerships/d1/routing",
        json={"rotate_after_minutes": 10, "default": {"pool": ["gil", "hue", "ian"]}},
        headers=svc.staff(),
    )
    assert r.status_code == 200
    lead = qualified()
    await svc.publish(lead)
    p = await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open")
    assert p["consultant_id"] == "gil"
    await svc.move(timedelta(minutes=10))
    p = await svc.prospect(lead.lead_id)
    assert p["consultant_id"] == "hue" and p["reason"] == "rotated"
    r = await svc.act(lead.lead_id, "activities", {"kind": "call"}, headers=svc.consultant("hue"))
    assert r.status_code == 201
    await svc.move(timedelta(minutes=10))
    assert (await svc.prospect(lead.lead_id))["consultant_id"] == "hue"
    moved = await svc.events.wait_for("prospect.reassigned", lead_id=lead.lead_id)
    assert [m["payload"]["reason"] for m in moved] == ["rotated"]


async def test_another_replica_fires_the_timers(
    running_assignment: Callable[..., AbstractAsyncContextManager[Assignment]], svc: Assignment
) -> None:
    """The SLA timer lives in PostgreSQL: another replica on the same database fires it."""
    await svc.add_consultant("jo")
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open")
    async with running_assignment(run_timers=False, clock=svc.clock) as other:
        await other.move(timedelta(hours=48))
        assert (await other.prospect(lead.lead_id))["escalated_at"] is not None


async def test_a_prospect_closed_while_its_sla_timer_falls_due_does_not_deadlock_the_runner(
    svc: Assignment,
) -> None:
    """A request closing a prospect holds its dealership's lock and cancels its timers; the
    runner firing the prospect's SLA timer at that moment takes the dealership's lock before
    the timer's row (`TimerRunner(lock=...)`), so it waits, then finds the timer gone. The
    other way round the two deadlocked: PostgreSQL aborted one after a second (seen in
    `forecourt simulate`, whose clock jumps a day and sets every SLA timer due at once)."""
    await svc.add_consultant("kai")
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open")
    svc.clock.advance(timedelta(hours=48))  # the SLA timer is due; nothing fired it yet
    engine = svc.app.state.runtime.engine
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    async with svc.app.state.uow_factory() as uow:
        await uow.repo.lock_dealership("acme", "d1")  # as a win or a loss does
        firing = asyncio.create_task(svc.app.state.timers.fire_due())
        async with asyncio.timeout(30):  # until the runner waits for the dealership
            while True:
                async with engine.connect() as conn:
                    if await conn.scalar(waiting):
                        break
                await asyncio.sleep(0.02)
        p = await uow.repo.get("acme", lead.lead_id)
        assert p is not None
        await cancel_accountability(uow, p)  # would wait on a timer row the runner held
        await uow.commit()
    assert await firing == 0  # nothing failed, nothing left due: the timers went
    assert (await svc.prospect(lead.lead_id))["escalated_at"] is None

"""crm-queue against real RabbitMQ and PostgreSQL, driven through its HTTP API and events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import pytest

from shared.clock import FrozenClock
from tests.integration.crm_queue.conftest import T0, Crm, Handled, duplicate, ingested

pytestmark = pytest.mark.integration


async def test_published_lead_becomes_a_task_in_the_queue(crm: Crm) -> None:
    lead = ingested()
    await crm.publish(lead)
    task = await crm.task(lead.lead_id)
    assert task["state"] == "open"
    assert task["sla_due_at"].startswith("2026-03-02T10:15")
    assert task["person"]["first_name"] == "Ann"
    r = await crm.client.get("/v1/queue", headers=crm.staff())
    assert [t["lead_id"] for t in r.json()] == [str(lead.lead_id)]


async def test_the_same_event_twice_makes_one_task(crm: Crm, handled: Handled) -> None:
    lead = ingested()
    await crm.publish(lead)
    await crm.publish(lead)
    await handled.wait(lead.event_id, times=2)
    r = await crm.client.get("/v1/leads", headers=crm.staff("manager"))
    assert len(r.json()) == 1


async def test_a_duplicate_before_its_lead_does_no_harm(crm: Crm) -> None:
    lead = ingested()
    await crm.publish(duplicate(lead, T0 + timedelta(minutes=1)))
    first = await crm.task(lead.lead_id)
    assert first["person"] == {}
    # Nobody can call a lead whose person is not known yet: not in the agents' queue.
    assert (await crm.client.get("/v1/queue", headers=crm.staff())).json() == []
    await crm.publish(lead)
    for _ in range(100):
        task = await crm.task(lead.lead_id)
        if task["person"]:
            break
        await asyncio.sleep(0.05)
    assert task["person"]["last_name"] == "Roe"
    assert task["enquiries"] == 2  # the lead and its repeat
    r = await crm.client.get("/v1/queue", headers=crm.staff())
    assert [t["lead_id"] for t in r.json()] == [str(lead.lead_id)]


async def test_queue_order_is_sla_due_then_freshness(crm: Crm) -> None:
    late = ingested(received_at=T0 - timedelta(minutes=10))
    early = ingested(received_at=T0 - timedelta(minutes=20))
    fresh = ingested(received_at=T0)
    for lead in (fresh, late, early):
        await crm.publish(lead)
        await crm.task(lead.lead_id)
    r = await crm.client.get("/v1/queue", headers=crm.staff())
    assert [t["lead_id"] for t in r.json()] == [
        str(early.lead_id),
        str(late.lead_id),
        str(fresh.lead_id),
    ]


async def test_two_agents_never_hold_the_same_lead(crm: Crm) -> None:
    lead = ingested()
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    one, two = await asyncio.gather(
        crm.act(lead.lead_id, "claim", sub="agent-1"),
        crm.act(lead.lead_id, "claim", sub="agent-2"),
    )
    assert sorted([one.status_code, two.status_code]) == [200, 409]
    loser = one if one.status_code == 409 else two
    assert loser.json()["rule"] == "lease.held_by_other"
    holder = "agent-1" if one.status_code == 200 else "agent-2"
    other = "agent-2" if holder == "agent-1" else "agent-1"
    # The other agent's queue no longer shows it, nor may they record an attempt on it.
    r = await crm.client.get("/v1/queue", headers=crm.staff(sub=other))
    assert r.json() == []
    r = await crm.act(
        lead.lead_id, "attempts", {"channel": "call", "outcome": "no_answer"}, sub=other
    )
    assert r.status_code == 409
    # Once the lease runs out, the lead is free again.
    crm.clock.advance(timedelta(minutes=11))
    assert (await crm.act(lead.lead_id, "claim", sub=other)).status_code == 200


async def test_not_reached_needs_six_attempts_over_five_days_on_two_channels(crm: Crm) -> None:
    lead = ingested()
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    lose = {"reason_code": "not_reached.max_attempts"}
    r = await crm.act(lead.lead_id, "lose", lose)
    assert (r.status_code, r.json()["rule"]) == (409, "lease.required")
    await crm.act(lead.lead_id, "claim")
    r = await crm.act(lead.lead_id, "lose", lose)
    assert r.status_code == 422
    assert r.json()["rule"] == "persistence.min_attempts"
    for day in range(6):
        assert (await crm.act(lead.lead_id, "claim")).status_code == 200
        channel = "call" if day < 5 else "sms"
        r = await crm.act(lead.lead_id, "attempts", {"channel": channel, "outcome": "no_answer"})
        assert r.status_code == 201, r.text
        crm.clock.advance(timedelta(days=1) if day < 5 else timedelta(hours=1))
    task = r.json()
    assert task["attempts_made"] == 6
    assert task["next_attempt_due_at"] is not None  # an unanswered lead gets its next attempt
    await crm.act(lead.lead_id, "claim")
    r = await crm.act(lead.lead_id, "lose", lose | {"note": "never picked up"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "lost"
    [lost] = await crm.events.wait_for("lead.lost", lead_id=lead.lead_id)
    assert lost["payload"]["reason_code"] == "not_reached.max_attempts"
    assert lost["payload"]["attempts"] == 6
    attempts = await crm.events.wait_for("lead.contact_attempted", n=6, lead_id=lead.lead_id)
    assert sorted(e["payload"]["attempt_number"] for e in attempts) == [1, 2, 3, 4, 5, 6]
    # A closed lead refuses more work.
    r = await crm.act(
        lead.lead_id, "attempts", {"channel": "call", "outcome": "reached"}, role="manager"
    )
    assert r.status_code == 409
    assert r.json()["rule"] == "task.closed"


async def test_six_calls_in_half_an_hour_then_a_write_off_on_day_5_is_refused(crm: Crm) -> None:
    lead = ingested()
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    for channel in ["call", "sms"] * 3:
        await crm.act(lead.lead_id, "claim")
        r = await crm.act(lead.lead_id, "attempts", {"channel": channel, "outcome": "no_answer"})
        assert r.status_code == 201, r.text
        crm.clock.advance(timedelta(minutes=5))
    crm.clock.advance(timedelta(days=5))
    await crm.act(lead.lead_id, "claim")
    r = await crm.act(lead.lead_id, "lose", {"reason_code": "not_reached.max_attempts"})
    assert (r.status_code, r.json()["rule"]) == (422, "persistence.min_attempt_days")
    assert "made 6 attempts on 1 different day" in r.json()["message"]


async def test_reason_must_be_a_code_and_qualifying_publishes(crm: Crm) -> None:
    lead = ingested()
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    await crm.act(lead.lead_id, "claim")
    r = await crm.act(lead.lead_id, "lose", {"reason_code": "no interest", "note": "meh"})
    assert r.status_code == 422
    r = await crm.act(lead.lead_id, "attempts", {"channel": "call", "outcome": "reached"})
    assert r.status_code == 201
    r = await crm.act(
        lead.lead_id,
        "qualify",
        {
            "outcome": "appointment.test_drive",
            "details": "Saturday",
            "appointment_at": "2026-03-07T10:00:00+00:00",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "qualified"
    [q] = await crm.events.wait_for("lead.qualified", lead_id=lead.lead_id)
    assert q["payload"]["outcome"] == "appointment.test_drive"
    assert q["payload"]["agent_id"] == "agent-1"


async def test_do_not_contact_is_honoured_for_the_next_lead_of_that_person(crm: Crm) -> None:
    lead = ingested(email="stop@example.com")
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    await crm.act(lead.lead_id, "claim")
    await crm.act(lead.lead_id, "attempts", {"channel": "call", "outcome": "reached"})
    r = await crm.act(lead.lead_id, "lose", {"reason_code": "no_interest.do_not_contact"})
    assert r.status_code == 200
    [lost] = await crm.events.wait_for("lead.lost", lead_id=lead.lead_id)
    assert lost["payload"]["do_not_contact"] is True
    again = ingested(email="STOP@example.com")
    await crm.publish(again)
    task = await crm.task(again.lead_id)
    assert task["do_not_contact"] is True
    r = await crm.client.get("/v1/queue", headers=crm.staff())
    assert str(again.lead_id) not in [t["lead_id"] for t in r.json()]
    # Nobody may call them, even by going to the lead directly.
    assert (await crm.act(again.lead_id, "claim")).status_code == 200
    r = await crm.act(again.lead_id, "attempts", {"channel": "call", "outcome": "reached"})
    assert (r.status_code, r.json()["rule"]) == (422, "contact.do_not_contact")


async def test_sla_breach_is_published_once_and_escalated(crm: Crm) -> None:
    lead = ingested()
    worked = ingested()
    for x in (lead, worked):
        await crm.publish(x)
        await crm.task(x.lead_id)
    await crm.act(worked.lead_id, "claim")
    await crm.act(worked.lead_id, "attempts", {"channel": "call", "outcome": "no_answer"})
    assert await crm.move(timedelta(minutes=14)) == 0
    assert await crm.move(timedelta(minutes=2)) == 1  # only the untouched lead's timer is left
    assert await crm.move(timedelta(hours=1)) == 0
    [breach] = await crm.events.wait_for("lead.sla_breached", lead_id=lead.lead_id)
    assert breach["payload"]["escalated_to_role"] == "manager"
    await crm.events.settle()
    assert len(crm.events.of("lead.sla_breached")) == 1
    r = await crm.client.get("/v1/leads", params={"overdue": "true"}, headers=crm.staff("manager"))
    assert [t["lead_id"] for t in r.json()] == [str(lead.lead_id)]
    assert r.json()[0]["escalated_at"] is not None


async def test_sla_breach_due_while_down_fires_once_after_the_restart(
    running_crm: Callable[..., AbstractAsyncContextManager[Crm]],
) -> None:
    clock = FrozenClock(T0)
    lead = ingested()
    async with running_crm(clock=clock, run_timers=False) as first:
        await first.publish(lead)
        await first.task(lead.lead_id)
    # Down while the SLA ran out; then two replicas come up with their timer loops running
    # (one after the other: for replicas racing for the same timers see test_timers.py).
    clock.advance(timedelta(minutes=30))
    async with running_crm(clock=clock) as one, running_crm(clock=clock) as two:
        [breach] = await one.events.wait_for("lead.sla_breached", lead_id=lead.lead_id)
        assert breach["payload"]["due_at"].startswith("2026-03-02T10:15")
        await one.events.settle(quiet=1.5)
        await two.events.settle(quiet=0.5)
        total = one.events.of("lead.sla_breached") + two.events.of("lead.sla_breached")
        assert len(total) == 1


async def test_tenants_and_dealerships_are_walled_off_on_every_route(crm: Crm) -> None:
    lead = ingested(tenant="acme", dealership="d1")
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    outsiders = [
        {"tenant": "globex", "dealerships": ("d1",)},  # same dealership id, other group
        {"tenant": "acme", "dealerships": ("d2",)},  # same group, other dealership
    ]
    for who in outsiders:
        for role in ("agent", "manager"):
            for action, body in (
                ("claim", None),
                ("release", None),
                ("attempts", {"channel": "call", "outcome": "reached"}),
                ("qualify", {"outcome": "quotation.requested"}),
                ("lose", {"reason_code": "no_interest.other_car"}),
            ):
                r = await crm.act(lead.lead_id, action, body, role=role, **who)
                assert r.status_code == 404, (who, role, action, r.text)
            headers = crm.staff(role=role, **who)
            assert (
                await crm.client.get(f"/v1/leads/{lead.lead_id}", headers=headers)
            ).status_code == 404
            assert (await crm.client.get("/v1/queue", headers=headers)).json() == []
        r = await crm.client.get("/v1/leads", headers=crm.staff("manager", **who))
        assert r.json() == []
    assert (await crm.client.get("/v1/queue")).status_code == 401
    consultant = crm.staff("consultant")
    assert (await crm.client.get("/v1/queue", headers=consultant)).status_code == 403
    r = await crm.client.get("/v1/leads", headers=crm.staff("agent"))
    assert r.status_code == 403  # the manager view is for managers


async def test_policy_sets_opening_hours_for_the_sla(crm: Crm) -> None:
    policy = {
        "timezone": "Europe/Berlin",
        "week": {
            "mon": [["09:00", "18:00"]],
            "tue": [["09:00", "18:00"]],
            "wed": [["09:00", "18:00"]],
            "thu": [["09:00", "18:00"]],
            "fri": [["09:00", "18:00"]],
            "sat": [],
            "sun": [],
        },
    }
    # crm-queue knows a dealership from its leads: one for acme's d1, one for globex's d1.
    for tenant in ("acme", "globex"):
        seen = ingested(tenant)
        await crm.publish(seen)
        await crm.row_when(seen.lead_id, lambda r: True)
    r = await crm.client.get("/v1/dealerships/d1/policy", headers=crm.staff("manager"))
    assert r.status_code == 200
    body = r.json()
    body["hours"] = policy
    r = await crm.client.put("/v1/dealerships/d1/policy", json=body, headers=crm.staff("manager"))
    assert r.status_code == 200, r.text
    # Received Saturday evening: due 15 minutes after Monday's opening (08:15 UTC in winter).
    lead = ingested(received_at=T0 - timedelta(days=2) + timedelta(hours=9))
    await crm.publish(lead)
    task = await crm.task(lead.lead_id)
    assert task["sla_due_at"].startswith("2026-03-02T08:15")
    r = await crm.client.put(
        "/v1/dealerships/d1/policy",
        json={"hours": {"timezone": "Nowhere"}},
        headers=crm.staff("manager"),
    )
    assert r.status_code == 422
    r = await crm.client.put("/v1/dealerships/d1/policy", json=body, headers=crm.staff("agent"))
    assert r.status_code == 403
    # Another dealer group's manager with a dealership of the same id sees its own default
    # policy, never acme's, and changing it leaves acme's alone.
    other = crm.staff("manager", tenant="globex")
    theirs = (await crm.client.get("/v1/dealerships/d1/policy", headers=other)).json()
    assert theirs["hours"]["timezone"] == "UTC"
    theirs["sla"] = "PT5M"
    assert (
        await crm.client.put("/v1/dealerships/d1/policy", json=theirs, headers=other)
    ).status_code == 200
    ours = (await crm.client.get("/v1/dealerships/d1/policy", headers=crm.staff("manager"))).json()
    assert (ours["hours"]["timezone"], ours["sla"]) == ("Europe/Berlin", "PT15M")
    # A manager of acme's other dealership cannot read or set d1's.
    d2 = crm.staff("manager", dealerships=("d2",))
    assert (await crm.client.get("/v1/dealerships/d1/policy", headers=d2)).status_code == 404

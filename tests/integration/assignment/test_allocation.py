"""Who gets a prospect: eligibility, rules, methods, sticky, the unassigned queue."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.integration.assignment.conftest import T0, Assignment, qualified, reactivated

pytestmark = pytest.mark.integration


def _owned(p: dict[str, object]) -> bool:
    return p["state"] == "open"


async def test_a_qualified_lead_goes_to_a_present_consultant_with_the_reason(
    svc: Assignment,
) -> None:
    await svc.add_consultant("cara")
    lead = qualified()
    await svc.publish(lead)
    p = await svc.prospect(lead.lead_id, until=_owned)
    assert p["consultant_id"] == "cara"
    assert p["reason"] == "default_pool"
    assert "next in turn" in p["reason_detail"]
    assert p["person"]["last_name"] == "Roe"
    assert p["respond_by"].startswith("2026-03-04T10:00")  # normal SLA: 48 h by default
    [event] = await svc.events.wait_for("prospect.assigned", lead_id=lead.lead_id)
    payload = event["payload"]
    assert payload["consultant_id"] == "cara"
    assert payload["reason"] == "default_pool"
    assert payload["method"] == "round_robin"
    assert payload["hot"] is False
    assert event["producer"] == "assignment"


async def test_eligibility_needs_presence_skills_and_room_under_the_cap(svc: Assignment) -> None:
    await svc.add_consultant("absent", clock_in=False)  # no hours, never clocked in
    await svc.add_consultant("inactive", active=False)
    await svc.add_consultant("bmw-only", brands=["BMW"])
    await svc.add_consultant("used-only", conditions=["used"])
    await svc.add_consultant("french", languages=["fr"])
    await svc.add_consultant("full", cap=0)
    await svc.add_consultant(
        "on-leave",
        absences=[{"start": "2026-03-01T00:00:00Z", "end": "2026-03-09T00:00:00Z"}],
    )
    lead = qualified(make="Volvo", condition="new", language="de")
    await svc.publish(lead)
    p = await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "unassigned")
    assert p["consultant_id"] is None
    assert "nobody eligible" in p["reason_detail"]
    r = await svc.client.get("/v1/prospects/unassigned", headers=svc.staff())
    assert [x["lead_id"] for x in r.json()] == [str(lead.lead_id)]
    # The only one who fits: a Volvo seller of new cars, speaking German, present, with room.
    await svc.add_consultant("right", brands=["volvo"], conditions=["new"], languages=["de"])
    p = await svc.prospect(lead.lead_id, until=_owned)
    assert p["consultant_id"] == "right"


async def test_unassigned_queue_drains_when_a_consultant_clocks_in(svc: Assignment) -> None:
    await svc.add_consultant("dana", clock_in=False)
    leads = [qualified() for _ in range(3)]
    for lead in leads:
        await svc.publish(lead)
    for lead in leads:
        await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "unassigned")
    assert not svc.events.of("prospect.assigned")
    r = await svc.client.post("/v1/consultants/dana/clock-in", headers=svc.consultant("dana"))
    assert r.status_code == 200
    assert r.json()["open_prospects"] == 3
    await svc.events.wait_for("prospect.assigned", n=3)
    r = await svc.client.get("/v1/prospects/mine", headers=svc.consultant("dana"))
    assert {p["lead_id"] for p in r.json()} == {str(lead.lead_id) for lead in leads}


async def test_unassigned_queue_drains_when_a_shift_starts_by_schedule(svc: Assignment) -> None:
    # Works 14:00-18:00 on Mondays; it is 10:00: the prospect waits until the shift starts.
    await svc.add_consultant(
        "erin",
        clock_in=False,
        hours={"timezone": "UTC", "week": {"mon": [["14:00", "18:00"]]}},
    )
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "unassigned")
    assert await svc.move(timedelta(hours=3)) == 0
    assert await svc.move(timedelta(hours=1)) == 1  # the drain timer at 14:00
    p = await svc.prospect(lead.lead_id, until=_owned)
    assert p["consultant_id"] == "erin"


async def test_a_freed_place_under_the_cap_goes_to_who_waits(svc: Assignment) -> None:
    await svc.add_consultant("finn", cap=1)
    first, second = qualified(), qualified()
    await svc.publish(first)
    await svc.prospect(first.lead_id, until=_owned)
    await svc.publish(second)
    await svc.prospect(second.lead_id, until=lambda p: p["state"] == "unassigned")
    r = await svc.act(
        first.lead_id,
        "win",
        {"vehicle": {"make": "Volvo", "model": "XC60"}, "price": "52000.00", "currency": "EUR"},
        headers=svc.consultant("finn"),
    )
    assert r.status_code == 200, r.text
    p = await svc.prospect(second.lead_id, until=_owned)
    assert p["consultant_id"] == "finn"


async def test_rules_pick_the_pool_and_unmatched_go_to_the_default_pool(svc: Assignment) -> None:
    for who in ("newbie", "used1", "used2", "web"):
        await svc.add_consultant(who)
    r = await svc.client.put(
        "/v1/dealerships/d1/routing",
        json={
            "rules": [
                {"name": "used", "match": {"conditions": ["used"]}, "pool": ["used1", "used2"]},
                {
                    "name": "spring campaign",
                    "match": {
                        "campaigns": ["SPRING"],
                        "days": ["mon"],
                        "time_from": "09:00",
                        "time_to": "12:00",
                    },
                    "pool": ["web"],
                    "method": "least_loaded",
                },
            ],
            "default": {"pool": ["newbie"]},
        },
        headers=svc.staff(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    used = [qualified(condition="used") for _ in range(2)]
    spring = qualified(campaign="spring")
    other = qualified(campaign="autumn")
    for lead in (*used, spring, other):
        await svc.publish(lead)
    owners = [(await svc.prospect(x.lead_id, until=_owned)) for x in (*used, spring, other)]
    assert {owners[0]["consultant_id"], owners[1]["consultant_id"]} == {"used1", "used2"}
    assert owners[0]["rule"] == "used" and owners[0]["rule_version"] == 1
    assert owners[2]["consultant_id"] == "web" and owners[2]["method"] == "least_loaded"
    assert owners[3]["consultant_id"] == "newbie" and owners[3]["reason"] == "default_pool"
    # The rule's window is local time: the same campaign after noon goes to the default pool.
    svc.clock.advance(timedelta(hours=3))
    late = qualified(campaign="spring")
    await svc.publish(late)
    assert (await svc.prospect(late.lead_id, until=_owned))["consultant_id"] == "newbie"
    r = await svc.client.get("/v1/dealerships/d1/routing?version=1", headers=svc.staff())
    assert r.json()["rules"][0]["name"] == "used"


async def test_least_loaded_method(svc: Assignment) -> None:
    await svc.add_consultant("gus")
    await svc.add_consultant("hal")
    r = await svc.client.put(
        "/v1/dealerships/d1/routing",
        json={"default": {"pool": ["gus", "hal"], "method": "least_loaded"}},
        headers=svc.staff(),
    )
    assert r.status_code == 200
    # Hal is given two prospects by hand; least loaded then picks Gus twice, then Hal.
    for _ in range(2):
        seed = qualified()
        await svc.publish(seed)
        p = await svc.prospect(seed.lead_id, until=_owned)
        if p["consultant_id"] != "hal":
            r = await svc.act(
                seed.lead_id, "reassign", {"consultant_id": "hal"}, headers=svc.staff()
            )
            assert r.status_code == 200, r.text
    picks = []
    for _ in range(3):
        svc.clock.advance(timedelta(seconds=1))
        lead = qualified()
        await svc.publish(lead)
        picks.append((await svc.prospect(lead.lead_id, until=_owned))["consultant_id"])
    assert picks == ["gus", "gus", "hal"]


async def test_round_robin_turns_follow_the_order_of_assignment_not_of_the_clocks(
    svc: Assignment,
) -> None:
    """A handler reads the time before it waits for the dealership's lock (and replicas'
    clocks differ): the one that waited longer assigns last with the earliest time. Its
    consultant must still count as served last, or round robin gives them the next one too."""
    for name in ("ada", "bob", "cid"):
        await svc.add_consultant(name)
    picks = []
    for seconds in (10, 5, 20, 30):  # the second one read the clock first, assigned second
        svc.clock.set(T0 + timedelta(seconds=seconds))
        lead = qualified()
        await svc.publish(lead)
        picks.append((await svc.prospect(lead.lead_id, until=_owned))["consultant_id"])
    assert picks == ["ada", "bob", "cid", "ada"]


async def test_sticky_a_returning_person_goes_back_to_their_consultant(svc: Assignment) -> None:
    await svc.add_consultant("ivy")
    await svc.add_consultant("jon")
    first = qualified(email="ann@example.com")
    await svc.publish(first)
    owner = (await svc.prospect(first.lead_id, until=_owned))["consultant_id"]
    # Round robin would now pick the other one; the same person goes back to their consultant.
    again = qualified(email="ANN@example.com")
    await svc.publish(again)
    p = await svc.prospect(again.lead_id, until=_owned)
    assert p["consultant_id"] == owner
    assert p["reason"] == "sticky" and p["method"] == "sticky"
    someone_else = qualified()
    await svc.publish(someone_else)
    other = (await svc.prospect(someone_else.lead_id, until=_owned))["consultant_id"]
    assert other != owner


async def test_reactivated_lost_prospect_comes_back_hot_to_its_consultant(
    svc: Assignment,
) -> None:
    await svc.add_consultant("kim")
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=_owned)
    r = await svc.act(
        lead.lead_id,
        "lose",
        {"reason_code": "prospect.price", "note": "too dear"},
        headers=svc.consultant("kim"),
    )
    assert r.status_code == 200, r.text
    await svc.add_consultant("lou")
    svc.clock.advance(timedelta(days=10))
    await svc.publish(reactivated(lead, T0 + timedelta(days=10)))
    p = await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open" and p["hot"])
    assert p["consultant_id"] == "kim"
    assert p["reason"] == "hot_reactivation"
    assert p["respond_by"].startswith("2026-03-13T10:00")  # 24 h
    events = await svc.events.wait_for("prospect.assigned", n=2, lead_id=lead.lead_id)
    assert events[-1]["payload"]["hot"] is True
    assert events[-1]["payload"]["reason"] == "hot_reactivation"


async def test_reactivation_before_qualification_and_duplicates_do_no_harm(
    svc: Assignment,
) -> None:
    await svc.add_consultant("max")
    lead = qualified()
    react = reactivated(lead, T0 + timedelta(hours=1))
    await svc.publish(react)
    await svc.publish(react)  # a duplicate delivery
    p = await svc.prospect(lead.lead_id, until=_owned)
    assert p["hot"] is True and p["person"] == {}
    await svc.publish(lead)
    await svc.publish(lead)
    p = await svc.prospect(lead.lead_id, until=lambda p: bool(p["person"]))
    assert p["consultant_id"] == "max" and p["hot"] is True
    await svc.events.settle()
    assert len(svc.events.of("prospect.assigned")) == 1


async def test_up_for_grabs_first_eligible_claim_wins(svc: Assignment) -> None:
    for who in ("nia", "oli"):
        await svc.add_consultant(who)
    r = await svc.client.put(
        "/v1/dealerships/d1/routing",
        json={"default": {"method": "up_for_grabs"}},
        headers=svc.staff(),
    )
    assert r.status_code == 200
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "up_for_grabs")
    r = await svc.client.get("/v1/prospects/up-for-grabs", headers=svc.consultant("nia"))
    assert [p["lead_id"] for p in r.json()] == [str(lead.lead_id)]
    one, two = await asyncio.gather(
        svc.act(lead.lead_id, "claim", headers=svc.consultant("nia")),
        svc.act(lead.lead_id, "claim", headers=svc.consultant("oli")),
    )
    assert sorted([one.status_code, two.status_code]) == [200, 409]
    winner = "nia" if one.status_code == 200 else "oli"
    p = await svc.prospect(lead.lead_id)
    assert p["consultant_id"] == winner and p["reason"] == "claimed"
    await svc.events.wait_for("prospect.assigned", lead_id=lead.lead_id)


async def test_manager_reassigns_by_hand_within_the_cap(svc: Assignment) -> None:
    await svc.add_consultant("pat")
    await svc.add_consultant("quin", cap=0)
    await svc.add_consultant("ray", clock_in=False)
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=_owned)
    r = await svc.act(lead.lead_id, "reassign", {"consultant_id": "quin"}, headers=svc.staff())
    assert r.status_code == 409 and r.json()["rule"] == "reassign.cap"
    r = await svc.act(lead.lead_id, "reassign", {"consultant_id": "ghost"}, headers=svc.staff())
    assert r.status_code == 422
    r = await svc.act(lead.lead_id, "reassign", {"consultant_id": "ray"}, headers=svc.staff())
    assert r.status_code == 200, r.text
    assert r.json()["consultant_id"] == "ray" and r.json()["reason"] == "manager"
    [moved] = await svc.events.wait_for("prospect.reassigned", lead_id=lead.lead_id)
    assert moved["payload"]["from_consultant_id"] == "pat"
    assert moved["payload"]["to_consultant_id"] == "ray"
    assert moved["payload"]["reason"] == "manager"
    as_ray = svc.consultant("ray")
    r = await svc.act(lead.lead_id, "reassign", {"consultant_id": "ray"}, headers=as_ray)
    assert r.status_code == 403


async def test_an_unknown_lead_is_never_assigned_twice(svc: Assignment) -> None:
    await svc.add_consultant("sam")
    lead = qualified(lead_id=uuid.uuid4())
    await asyncio.gather(*(svc.publish(lead) for _ in range(5)))
    await svc.prospect(lead.lead_id, until=_owned)
    await svc.events.settle()
    assert len(svc.events.of("prospect.assigned")) == 1

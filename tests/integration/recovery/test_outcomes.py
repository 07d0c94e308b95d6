"""Each outcome the CRM department records, and the events it puts on the broker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.contracts import Envelope, LeadReactivatedV1, LostReasonCode
from tests.integration.recovery.conftest import (
    DAY,
    T0,
    Recovery,
    lead_lost,
    person,
    prospect_lost,
)

pytestmark = pytest.mark.integration

R = LostReasonCode


async def _due_run(svc: Recovery, lost: Any) -> dict[str, Any]:
    """The loss published, its first step due and claimed by the agent `ana`."""
    await svc.publish(lost)
    run = await svc.run(lost.lead_id)
    await svc.move_to(T0 + 3 * DAY)
    r = await svc.act(run["recovery_id"], "claim", headers=svc.staff())
    assert r.status_code == 200, r.text
    assert r.json()["leased_by"] == "ana"
    return dict(r.json())


async def _outcome(svc: Recovery, run: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    r = await svc.act(run["recovery_id"], "outcome", body, headers=svc.staff())
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_reactivated_is_a_hot_prospect_for_assignment_with_what_it_needs(
    svc: Recovery,
) -> None:
    lost = prospect_lost(R.PROSPECT_PRICE)
    run = await _due_run(svc, lost)
    after = await _outcome(svc, run, {"outcome": "reactivated", "note": "new financing offer"})
    assert after["state"] == "ended" and after["outcome"] == "reactivated"
    [event] = await svc.events.wait_for("lead.reactivated", lead_id=lost.lead_id)
    typed = Envelope[LeadReactivatedV1].model_validate(event)
    p = typed.payload
    assert p.hot and p.origin == "prospect" and p.previous_reason_code is R.PROSPECT_PRICE
    assert p.person is not None and p.person.last_name == "Roe" and p.person.phone
    assert p.vehicle is not None and p.vehicle.make == "Volvo"
    assert p.enquiries[0].source_id == "s1" and p.consultant_id == "cara" and p.language == "de"
    assert p.agent_id == "ana" and p.note == "new financing offer"
    assert typed.dealership_id == "d1" and p.reactivated_at == T0 + 3 * DAY
    [attempt] = await svc.events.wait_for("recovery.attempted", lead_id=lost.lead_id)
    assert attempt["payload"]["outcome"] == "reactivated" and attempt["payload"]["step"] == 1
    [ended] = await svc.events.wait_for("recovery.ended", lead_id=lost.lead_id)
    assert ended["payload"]["outcome"] == "reactivated"
    # Ended: nothing more to claim or record, nothing fires any more.
    r = await svc.act(run["recovery_id"], "claim", headers=svc.staff())
    assert r.status_code == 409 and r.json()["rule"] == "recovery.ended"
    assert await svc.move_to(T0 + 100 * DAY) == 0
    await svc.events.settle()
    assert not [e for e in svc.events.of("lead.dead") if e["lead_id"] == str(lost.lead_id)]


async def test_still_lost_schedules_the_next_step_and_follows_the_reason_as_it_is_now(
    svc: Recovery,
) -> None:
    lost = lead_lost(R.NOT_REACHED_MAX_ATTEMPTS)
    run = await _due_run(svc, lost)
    after = await _outcome(
        svc, run, {"outcome": "still_lost", "reason_code": "no_interest.follow_up"}
    )
    assert after["state"] == "scheduled" and after["step"] == 2
    assert after["reason_code"] == "no_interest.follow_up" and after["cadence"] == [3, 7, 14]
    assert after["due_at"].startswith("2026-03-09") and after["reached"] is True
    scheduled = await svc.events.wait_for("recovery.scheduled", 2, lead_id=lost.lead_id)
    assert scheduled[-1]["payload"]["reason_code"] == "no_interest.follow_up"
    # A reason recovery never follows up ends the run.
    await svc.move_to(T0 + 7 * DAY)
    await svc.act(run["recovery_id"], "claim", headers=svc.staff())
    after = await _outcome(svc, run, {"outcome": "still_lost", "reason_code": "pollution.test"})
    assert after["state"] == "ended" and after["outcome"] == "not_recoverable"
    [dead] = await svc.events.wait_for("lead.dead", lead_id=lost.lead_id)
    assert dead["payload"]["reason"] == "not_recoverable"


@pytest.mark.parametrize(
    ("same_brand", "code", "action"),
    [
        (True, "bought_elsewhere.same_brand", "aftersales campaign (first service with us)"),
        (False, "bought_elsewhere.other_brand", "conquest campaign later"),
    ],
)
async def test_bought_elsewhere_carries_the_follow_up_action_of_the_reason_table(
    svc: Recovery, same_brand: bool, code: str, action: str
) -> None:
    lost = lead_lost(R.NO_INTEREST_OTHER_CAR)
    run = await _due_run(svc, lost)
    body = {"outcome": "bought_elsewhere", "same_brand": same_brand, "brand": "BMW"}
    after = await _outcome(svc, run, body | {"dealer": "BMW Downtown"})
    assert after["outcome"] == "bought_elsewhere" and after["reason_code"] == code
    [event] = await svc.events.wait_for("lead.bought_elsewhere", lead_id=lost.lead_id)
    assert event["payload"]["same_brand"] is same_brand and event["payload"]["brand"] == "BMW"
    assert event["payload"]["reason_code"] == code and event["payload"]["action"] == action
    assert event["payload"]["dealer"] == "BMW Downtown" and event["payload"]["origin"] == "lead"


async def test_bought_elsewhere_needs_same_brand_and_reason_code_only_with_still_lost(
    svc: Recovery,
) -> None:
    run = await _due_run(svc, lead_lost())
    for body, field in (
        ({"outcome": "bought_elsewhere"}, "same_brand"),
        ({"outcome": "dead", "reason_code": "prospect.price"}, "reason_code"),
    ):
        r = await svc.act(run["recovery_id"], "outcome", body, headers=svc.staff())
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], r.text
    assert (await svc.run(run["lead_id"]))["state"] == "due"


async def test_dead_is_no_more_contact(svc: Recovery) -> None:
    lost = lead_lost()
    run = await _due_run(svc, lost)
    after = await _outcome(svc, run, {"outcome": "dead", "note": "moved abroad"})
    assert after["state"] == "ended" and after["outcome"] == "dead"
    [dead] = await svc.events.wait_for("lead.dead", lead_id=lost.lead_id)
    assert dead["payload"]["reason"] == "marked_dead"
    assert await svc.move_to(T0 + 100 * DAY) == 0


async def test_do_not_contact_stops_every_run_of_the_person_and_their_later_losses(
    svc: Recovery,
) -> None:
    who = person()
    lost = lead_lost(who=who)
    other = prospect_lost(who=who.model_copy(update={"phone": None}))  # same email
    await svc.publish(other)
    await svc.run(other.lead_id)
    run = await _due_run(svc, lost)
    after = await _outcome(svc, run, {"outcome": "do_not_contact", "note": "asked us to stop"})
    assert after["outcome"] == "do_not_contact" and after["person"] == {}
    assert after["attempts"][0]["note"] is None  # scrubbed with the rest
    stopped = await svc.run(other.lead_id)
    assert stopped["state"] == "ended" and stopped["outcome"] == "do_not_contact"
    assert stopped["person"] == {}
    deaths = await svc.events.wait_for("lead.dead", 2)
    assert {d["lead_id"] for d in deaths} == {str(lost.lead_id), str(other.lead_id)}
    assert {d["payload"]["reason"] for d in deaths} == {"do_not_contact"}
    # A later loss of the same person (by phone this time) schedules nothing.
    again = lead_lost(who=who.model_copy(update={"email": "new@example.com"}), lost_at=T0 + DAY)
    await svc.publish(again)
    later = await svc.run(again.lead_id)
    assert later["state"] == "ended" and later["outcome"] == "do_not_contact"


async def test_unreached_outcomes_move_on_and_a_wrong_number_is_never_called_again(
    svc: Recovery,
) -> None:
    lost = lead_lost()
    run = await _due_run(svc, lost)
    after = await _outcome(svc, run, {"outcome": "voicemail"})
    assert after["step"] == 2 and after["channel"] == "call"
    await svc.move_to(T0 + 7 * DAY)
    await svc.act(run["recovery_id"], "claim", headers=svc.staff())
    after = await _outcome(svc, run, {"outcome": "wrong_number"})
    assert set(after["unusable_channels"]) == {"call", "sms", "whatsapp"}
    assert after["channel"] == "email" and after["step"] == 3
    await svc.move_to(T0 + 14 * DAY)  # sent by itself: nobody calls
    assert await svc.due() == []
    sent = await svc.events.wait_for("recovery.attempted", 3, lead_id=lost.lead_id)
    assert [e["payload"]["outcome"] for e in sent] == ["voicemail", "wrong_number", "sent"]


async def test_the_lease_keeps_others_out_and_managers_act_without_one(svc: Recovery) -> None:
    lost = lead_lost()
    run = await _due_run(svc, lost)  # ana holds it
    ben = svc.staff(sub="ben")
    assert [d for d in await svc.due(ben)] == []  # hidden from the others
    r = await svc.act(run["recovery_id"], "claim", headers=ben)
    assert r.status_code == 409 and r.json()["rule"] == "lease.held_by_other"
    r = await svc.act(run["recovery_id"], "outcome", {"outcome": "no_answer"}, headers=ben)
    assert r.status_code == 409 and r.json()["rule"] == "lease.held_by_other"
    await svc.move(timedelta(minutes=11))  # the 10-minute lease ran out
    assert [d["recovery_id"] for d in await svc.due(ben)] == [run["recovery_id"]]
    r = await svc.act(run["recovery_id"], "outcome", {"outcome": "no_answer"}, headers=ben)
    assert r.status_code == 409 and r.json()["rule"] == "lease.required"
    body = {"outcome": "no_answer"}
    r = await svc.act(run["recovery_id"], "outcome", body, headers=svc.manager())
    assert r.status_code == 200 and r.json()["step"] == 2

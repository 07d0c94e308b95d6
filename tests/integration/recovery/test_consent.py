"""Consent wins: an erasure stops every pending step of the person's leads at once and scrubs
what recovery kept of them, even for a loss that arrives after the erasure."""

from __future__ import annotations

import pytest

from shared.contracts import LostReasonCode
from tests.integration.recovery.conftest import (
    DAY,
    T0,
    Recovery,
    lead_lost,
    person,
    person_erased,
    prospect_lost,
)

pytestmark = pytest.mark.integration


async def test_person_erased_stops_every_step_and_scrubs_the_person(svc: Recovery) -> None:
    who = person()
    first, second = lead_lost(who=who), prospect_lost(LostReasonCode.PROSPECT_PRICE, who=who)
    bystander = lead_lost()
    for lost in (first, second, bystander):
        await svc.publish(lost)
        await svc.run(lost.lead_id)
    # The first step is open and has a note on it.
    await svc.move_to(T0 + 3 * DAY)
    run = await svc.run(first.lead_id)
    body = {"outcome": "no_answer", "note": "Ann's husband picked up"}
    r = await svc.act(run["recovery_id"], "outcome", body, headers=svc.manager())
    assert r.status_code == 200, r.text
    await svc.publish(person_erased("acme", first.lead_id, second.lead_id, at=T0 + 4 * DAY))
    for lost in (first, second):
        stopped = await svc.run(
            lost.lead_id, until=lambda runs: bool(runs) and runs[0]["state"] == "ended"
        )
        assert stopped["outcome"] == "erased" and stopped["person"] == {}
        assert stopped["consent"] == {} and stopped["due_at"] is None
        assert all("comments" not in e for e in stopped["enquiries"])
    r = await svc.client.get(f"/v1/recovery/{run['recovery_id']}", headers=svc.manager())
    assert [a["note"] for a in r.json()["attempts"]] == [None]
    deaths = await svc.events.wait_for("lead.dead", 2)
    assert {d["lead_id"] for d in deaths} == {str(first.lead_id), str(second.lead_id)}
    assert {d["payload"]["reason"] for d in deaths} == {"erased"}
    # Nothing of theirs fires any more; the bystander's cadence goes on.
    await svc.move_to(T0 + 7 * DAY)
    assert [d["lead_id"] for d in await svc.due()] == [str(bystander.lead_id)]


async def test_a_loss_arriving_after_its_erasure_schedules_nothing(svc: Recovery) -> None:
    lost = lead_lost()
    await svc.publish(person_erased("acme", lost.lead_id))
    await svc.events.wait_for("person.erased")
    await svc.publish(lost)
    run = await svc.run(lost.lead_id)
    assert run["state"] == "ended" and run["outcome"] == "erased" and run["person"] == {}
    assert await svc.move_to(T0 + 100 * DAY) == 0
    events = await svc.events.settle()
    assert not [e for e in events if e["event_type"] == "recovery.scheduled"]


async def test_a_do_not_contact_loss_elsewhere_stops_the_person_here(svc: Recovery) -> None:
    who = person()
    followed = lead_lost(who=who)
    await svc.publish(followed)
    await svc.run(followed.lead_id)
    refused = prospect_lost(LostReasonCode.NO_INTEREST_DO_NOT_CONTACT, who=who, lost_at=T0 + DAY)
    await svc.publish(refused)
    stopped = await svc.run(
        followed.lead_id, until=lambda runs: bool(runs) and runs[0]["state"] == "ended"
    )
    assert stopped["outcome"] == "do_not_contact" and stopped["person"] == {}

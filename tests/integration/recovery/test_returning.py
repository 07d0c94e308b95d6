"""A customer who comes back by themselves ends their cadence at once, counted as returned
(apart from the team's reactivations), whichever event arrives first."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.integration.recovery.conftest import (
    DAY,
    T0,
    Recovery,
    lead_duplicate,
    lead_ingested,
    lead_lost,
    person,
    prospect_lost,
)

pytestmark = pytest.mark.integration


async def _returned(svc: Recovery, lead_id: object, new_lead: object) -> None:
    run = await svc.run(lead_id, until=lambda runs: bool(runs) and runs[0]["state"] == "ended")
    assert run["outcome"] == "returned" and run["returned_lead_id"] == str(new_lead)
    [ended] = await svc.events.wait_for("recovery.ended", lead_id=lead_id)
    assert ended["payload"]["outcome"] == "returned"
    assert ended["payload"]["returned_lead_id"] == str(new_lead)
    await svc.events.settle()
    assert not [e for e in svc.events.of("lead.dead") if e["lead_id"] == str(lead_id)]
    assert await svc.move_to(T0 + 100 * DAY) == 0


async def test_a_new_lead_following_the_lost_one_ends_the_cadence(svc: Recovery) -> None:
    lost = lead_lost()
    await svc.publish(lost)
    await svc.run(lost.lead_id)
    # Intake links it by previous_lead_id; the person gave another email and no phone.
    back = lead_ingested(
        person("other@example.com", phone=None),
        received_at=T0 + 5 * DAY,
        previous_lead_id=lost.lead_id,
    )
    await svc.publish(back)
    await _returned(svc, lost.lead_id, back.lead_id)


async def test_any_new_enquiry_of_the_same_person_ends_it_but_not_another_tenants(
    svc: Recovery,
) -> None:
    who = person()
    lost = prospect_lost(who=who)
    await svc.publish(lost)
    await svc.run(lost.lead_id)
    elsewhere = lead_ingested(who, tenant="globex", received_at=T0 + DAY)
    await svc.publish(elsewhere)
    await svc.events.wait_for("lead.ingested", lead_id=elsewhere.lead_id)
    back = lead_ingested(who.model_copy(update={"email": None}), received_at=T0 + 2 * DAY)
    await svc.publish(back)  # the same phone
    await _returned(svc, lost.lead_id, back.lead_id)


async def _noted(svc: Recovery, lead_id: object) -> None:
    """Until recovery's consumer has recorded the lead's enquiry."""
    async with asyncio.timeout(15):
        while True:
            async with svc.app.state.runtime.engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT count(*) FROM lead_contact WHERE lead_id = :id"), {"id": lead_id}
                )
            if found:
                return
            await asyncio.sleep(0.05)


async def test_the_new_lead_may_arrive_before_the_loss(svc: Recovery) -> None:
    who = person()
    lost = lead_lost(who=who)
    back = lead_ingested(who, received_at=T0 + DAY)
    await svc.publish(back)
    await _noted(svc, back.lead_id)  # recovery handled it (not only the broker routed it)
    await svc.publish(lost)
    await _returned(svc, lost.lead_id, back.lead_id)
    events = await svc.events.settle()
    assert not [e for e in events if e["event_type"] == "recovery.scheduled"]


async def test_an_enquiry_merged_into_an_open_lead_after_the_loss_ends_it(svc: Recovery) -> None:
    who = person()
    # The person's other lead was already open before the loss: that alone is no return.
    open_lead = lead_ingested(who, received_at=T0 - DAY)
    await svc.publish(open_lead)
    lost = lead_lost(who=who)
    await svc.publish(lost)
    run = await svc.run(lost.lead_id)
    assert run["state"] == "scheduled"
    # They ask again: intake merges it into the open lead.
    await svc.publish(lead_duplicate(open_lead, T0 + 2 * DAY))
    await _returned(svc, lost.lead_id, open_lead.lead_id)


async def test_the_lost_leads_own_lead_ingested_is_no_return_and_brings_consent(
    svc: Recovery,
) -> None:
    from shared.contracts import ConsentV1

    who = person()
    lost = lead_lost(who=who)
    await svc.publish(lost)
    await svc.run(lost.lead_id)
    own = lead_ingested(
        who, lead_id=lost.lead_id, received_at=T0 - 5 * DAY, consent=ConsentV1(phone=False)
    )
    await svc.publish(own)
    run = await svc.run(lost.lead_id, until=lambda runs: runs[0]["consent"] != {})
    assert run["state"] == "scheduled" and run["consent"] == {"phone": False}
    await svc.move_to(T0 + 3 * DAY)
    [due] = await svc.due()
    assert due["channel"] == "sms"  # no calls: the person said so

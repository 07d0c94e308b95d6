"""Every event crm-queue publishes stays in the lead's chain and names what caused it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.crm_queue.conftest import T0, Crm, Handled, duplicate, ingested

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)


@pytest.mark.parametrize("order", ["in order", "repeat first"])
async def test_events_carry_the_leads_correlation_and_their_cause(
    crm: Crm, handled: Handled, order: str
) -> None:
    lead = ingested(received_at=T0, correlation_id="web-request-1")
    repeat = duplicate(lead, T0 + M, correlation_id="web-request-2")
    for event in [lead, repeat] if order == "in order" else [repeat, lead]:
        await crm.publish(event)
        await handled.wait(event.event_id)

    # The SLA timer was started (or restarted) by lead.ingested: the breach names it.
    assert await crm.move(20 * M) == 1
    [breach] = await crm.events.wait_for("lead.sla_breached", lead_id=lead.lead_id)
    assert breach["correlation_id"] == "web-request-1"
    assert breach["causation_id"] == str(lead.event_id)

    # Agents' commands are caused by no event, but stay in the lead's chain.
    await crm.act(lead.lead_id, "claim")
    r = await crm.act(lead.lead_id, "attempts", {"channel": "call", "outcome": "reached"})
    assert r.status_code == 201, r.text
    r = await crm.act(lead.lead_id, "qualify", {"outcome": "quotation.requested"})
    assert r.status_code == 200, r.text
    [attempted] = await crm.events.wait_for("lead.contact_attempted", lead_id=lead.lead_id)
    [qualified] = await crm.events.wait_for("lead.qualified", lead_id=lead.lead_id)
    for event in (attempted, qualified):
        assert (event["correlation_id"], event["causation_id"]) == ("web-request-1", None)

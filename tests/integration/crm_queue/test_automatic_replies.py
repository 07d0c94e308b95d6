"""Automatic replies through crm-queue's API: published as such, the SLA keeps running; the
dealership's persistence minimum travels in lead.lost (issue 15)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.crm_queue.conftest import Crm, ingested

pytestmark = pytest.mark.integration


async def test_an_automatic_reply_is_published_apart_and_the_sla_still_breaches(
    crm: Crm,
) -> None:
    lead = ingested()
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    await crm.act(lead.lead_id, "claim")
    body = {"channel": "email", "outcome": "no_answer", "automatic": True}
    r = await crm.act(lead.lead_id, "attempts", body)
    assert r.status_code == 201, r.text
    assert r.json()["attempts"][0]["automatic"] is True
    [reply] = await crm.events.wait_for("lead.contact_attempted", lead_id=lead.lead_id)
    assert reply["payload"]["automatic"] is True
    await crm.act(lead.lead_id, "release")
    # Nobody called: the SLA timer was not cancelled by the automatic reply.
    assert await crm.move(timedelta(minutes=16)) == 1
    [breach] = await crm.events.wait_for("lead.sla_breached", lead_id=lead.lead_id)
    assert breach["payload"]["due_at"].startswith("2026-03-02T10:15")


async def test_a_persons_attempt_is_published_as_not_automatic_and_lost_carries_the_minimum(
    crm: Crm,
) -> None:
    lead = ingested()
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    await crm.act(lead.lead_id, "claim")
    r = await crm.act(lead.lead_id, "attempts", {"channel": "call", "outcome": "reached"})
    assert r.status_code == 201, r.text
    r = await crm.act(lead.lead_id, "lose", {"reason_code": "no_interest.other_car"})
    assert r.status_code == 200, r.text
    [attempted] = await crm.events.wait_for("lead.contact_attempted", lead_id=lead.lead_id)
    assert attempted["payload"]["automatic"] is False
    [lost] = await crm.events.wait_for("lead.lost", lead_id=lead.lead_id)
    assert (lost["payload"]["attempts"], lost["payload"]["min_attempts"]) == (1, 6)

"""Over HTTP: the codes a lead in first contact can be closed with, and how it is qualified."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.contracts import ConsentV1
from tests.integration.crm_queue.conftest import T0, Crm, Handled, duplicate, ingested

pytestmark = pytest.mark.integration


async def open_lead(crm: Crm) -> object:
    lead = ingested()
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    assert (await crm.act(lead.lead_id, "claim")).status_code == 200
    return lead.lead_id


async def test_losing_needs_the_grounds_the_code_claims(crm: Crm) -> None:
    lead_id = await open_lead(crm)
    unanswered = {"channel": "call", "outcome": "no_answer"}
    assert (await crm.act(lead_id, "attempts", unanswered)).status_code == 201
    for code, rule in (
        ("prospect.postponed", "reason.not_for_leads"),
        ("no_interest.other_car", "reason.needs_contact"),
        ("not_reached.refused_call", "reason.needs_contact"),
        ("bought_elsewhere.other_brand", "reason.needs_contact"),
    ):
        for role in ("agent", "manager"):
            r = await crm.act(lead_id, "lose", {"reason_code": code}, role=role)
            assert (r.status_code, r.json()["rule"]) == (422, rule), (code, role)
    reached = {"channel": "sms", "outcome": "reached"}
    assert (await crm.act(lead_id, "attempts", reached)).status_code == 201
    r = await crm.act(lead_id, "lose", {"reason_code": "prospect.price"})
    assert (r.status_code, r.json()["rule"]) == (422, "reason.not_for_leads")
    r = await crm.act(lead_id, "lose", {"reason_code": "no_interest.other_car"})
    assert r.status_code == 200, r.text
    [lost] = await crm.events.wait_for("lead.lost", lead_id=lead_id)
    assert lost["payload"]["reason_code"] == "no_interest.other_car"


async def test_an_appointment_must_be_to_come_and_hot_is_carried(crm: Crm) -> None:
    lead_id = await open_lead(crm)
    for body, rule in (
        ({"outcome": "appointment.test_drive"}, "appointment.required"),
        (
            {"outcome": "appointment.showroom", "appointment_at": "2026-03-02T09:00:00+00:00"},
            "appointment.not_in_future",
        ),
    ):
        r = await crm.act(lead_id, "qualify", body)
        assert (r.status_code, r.json()["rule"]) == (422, rule)
    # A field the API does not know is refused, not dropped.
    r = await crm.act(lead_id, "qualify", {"outcome": "quotation.requested", "urgent": True})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "urgent"]
    visit = (T0 + timedelta(days=2)).isoformat()
    body = {"outcome": "appointment.test_drive", "appointment_at": visit, "hot": True}
    r = await crm.act(lead_id, "qualify", body)
    assert r.status_code == 200, r.text
    [qualified] = await crm.events.wait_for("lead.qualified", lead_id=lead_id)
    assert qualified["payload"]["hot"] is True
    assert qualified["payload"]["appointment_at"] == "2026-03-04T10:00:00Z"


@pytest.mark.parametrize("order", ["in order", "repeat first"])
async def test_attempts_on_a_channel_without_consent_are_refused(
    crm: Crm, handled: Handled, order: str
) -> None:
    lead = ingested(phone="+15195550123", consent=ConsentV1(sms=False, email=True))
    repeat = duplicate(lead, T0)
    for event in [lead, repeat] if order == "in order" else [repeat, lead]:
        await crm.publish(event)
        await handled.wait(event.event_id)
    task = await crm.task(lead.lead_id)
    assert task["no_consent_channels"] == ["sms", "whatsapp"]
    await crm.act(lead.lead_id, "claim")
    for channel in ("sms", "whatsapp"):
        for role in ("agent", "manager"):
            r = await crm.act(
                lead.lead_id, "attempts", {"channel": channel, "outcome": "reached"}, role=role
            )
            assert (r.status_code, r.json()["rule"]) == (422, "contact.no_consent")
    r = await crm.act(lead.lead_id, "attempts", {"channel": "call", "outcome": "no_answer"})
    assert r.status_code == 201, r.text
    await crm.events.settle()
    published = crm.events.of("lead.contact_attempted")
    assert [e["payload"]["channel"] for e in published] == ["call"]


async def test_control_characters_in_free_text_are_422_not_500(crm: Crm) -> None:
    lead_id = await open_lead(crm)
    for action, body in (
        ("attempts", {"channel": "call", "outcome": "no_answer", "note": "rang\x00twice"}),
        ("qualify", {"outcome": "quotation.requested", "details": "golf\x1b[31m"}),
        ("lose", {"reason_code": "pollution.test", "note": "test\x00lead"}),
    ):
        r = await crm.act(lead_id, action, body)
        assert r.status_code == 422, (action, r.text)
    r = await crm.act(
        lead_id, "attempts", {"channel": "call", "outcome": "no_answer", "note": "rang\n\ttwice"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["attempts"][0]["note"] == "rang\n\ttwice"

"""POST /v1/leads: ingest, reject, merge, idempotent resend, through to events on the broker."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.intake.conftest import Intake

pytestmark = pytest.mark.integration

LEAD = {
    "first_name": "joe",
    "last_name": "FAKEY",
    "email": "Joe.Fakey@Example.COM",
    "phone": "(519) 555-0114",
    "vehicle": {
        "year": "2016",
        "make": "RAM",
        "model": "2500",
        "condition": "Used",
        "price": "$34,995",
        "vin": "3C6UR5ML5GG359865",
    },
    "comments": "Is it still available?",
    "campaign": "spring",
}


async def test_a_new_lead_is_ingested_normalised_and_published(intake: Intake) -> None:
    source = await intake.source("acme")
    r = await intake.post(source["api_key"], LEAD)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["outcome"] == "ingested"
    [event] = await intake.events.wait_for("lead.ingested", lead_id=body["lead_id"])
    assert event["tenant_id"] == "acme"
    assert event["producer"] == "intake"
    assert event["dealership_id"] == source["dealership_id"]
    p = event["payload"]
    assert p["person"] == {
        "first_name": "Joe",
        "last_name": "Fakey",
        "email": "Joe.Fakey@example.com",
        "phone": "+15195550114",
        "other_phones": [],
    }
    assert p["vehicle"]["year"] == 2016
    assert p["vehicle"]["condition"] == "used"
    assert p["vehicle"]["price"] == "34995"
    assert p["source"]["source_id"] == source["id"]
    assert p["source"]["cost_per_lead"] == "15.00"
    assert p["source"]["campaign"] == "spring"
    assert p["sequence"] == 1


async def test_lead_without_usable_contact_is_rejected_kept_and_published(
    intake: Intake,
) -> None:
    source = await intake.source("acme")
    r = await intake.post(
        source["api_key"], {"first_name": "Ann", "phone": "(000) 000-0000", "email": "nope"}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "rejected"
    assert body["reason_code"] == "invalid.personal_data"
    assert {e["field"] for e in body["errors"]} >= {"email", "phone"}
    [event] = await intake.events.wait_for("lead.rejected")
    assert event["payload"]["reason_code"] == "invalid.personal_data"
    assert event["payload"]["raw_payload_id"] == body["raw_payload_id"]
    async with intake.app.state.engine.connect() as conn:
        raw = (
            await conn.execute(
                text("SELECT body, status FROM raw_payload WHERE id = :id"),
                {"id": body["raw_payload_id"]},
            )
        ).one()
    assert b'"(000) 000-0000"' in raw.body
    assert raw.status == "processed"


async def test_test_lead_is_rejected_by_the_tenant_rules(intake: Intake) -> None:
    source = await intake.source("acme")
    r = await intake.post(source["api_key"], LEAD | {"first_name": "Test", "last_name": "User"})
    assert r.status_code == 422
    assert r.json()["reason_code"] == "pollution.test"
    await intake.no_test_rules("acme")
    r = await intake.post(source["api_key"], LEAD | {"first_name": "Test", "last_name": "User"})
    assert r.status_code == 202


async def test_malformed_json_gets_the_field_and_reason_and_is_kept(intake: Intake) -> None:
    source = await intake.source("acme")
    r = await intake.client.post(
        "/v1/leads",
        content=b'{"email": ["not", "a", "string"], "trade_ins": 3}',
        headers={"X-Api-Key": source["api_key"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_payload"
    assert {e["field"] for e in body["errors"]} == {"email", "trade_ins"}
    async with intake.app.state.engine.connect() as conn:
        raw = (
            await conn.execute(
                text("SELECT status, error FROM raw_payload WHERE id = :id"),
                {"id": body["raw_payload_id"]},
            )
        ).one()
    assert raw.status == "invalid"
    assert "email" in raw.error
    r = await intake.client.post(
        "/v1/leads", content=b"{not json", headers={"X-Api-Key": source["api_key"]}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body"


async def test_same_person_again_is_merged_into_the_open_lead(intake: Intake) -> None:
    first_source = await intake.source("acme")
    other_source = await intake.source("acme", dealership_id=first_source["dealership_id"])
    first = (await intake.post(first_source["api_key"], LEAD)).json()
    again = await intake.post(
        other_source["api_key"],
        {"email": "joe.fakey@example.com", "comments": "Any news?", "campaign": "retarget"},
    )
    assert again.status_code == 202
    body = again.json()
    assert body["outcome"] == "merged"
    assert body["lead_id"] == first["lead_id"]
    assert body["matched_on"] == ["email"]
    [dup] = await intake.events.wait_for("lead.duplicate", lead_id=first["lead_id"])
    assert dup["payload"]["source"]["source_id"] == other_source["id"]
    assert dup["payload"]["source"]["campaign"] == "retarget"
    assert dup["payload"]["sequence"] == 2
    assert dup["payload"]["enquiry_id"] == body["submission_id"]
    by_phone = (await intake.post(first_source["api_key"], {"phone": "+1 519 555 0114"})).json()
    assert (by_phone["outcome"], by_phone["lead_id"]) == ("merged", first["lead_id"])


async def test_resent_lead_is_a_no_op(intake: Intake) -> None:
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], LEAD, **{"Idempotency-Key": "k-1"})).json()
    again = (await intake.post(source["api_key"], LEAD, **{"Idempotency-Key": "k-1"})).json()
    assert again["outcome"] == "resent"
    assert again["lead_id"] == first["lead_id"]
    by_provider_id = LEAD | {"source_lead_id": "P-77", "email": "other@example.com", "phone": None}
    one = (await intake.post(source["api_key"], by_provider_id)).json()
    two = (await intake.post(source["api_key"], by_provider_id)).json()
    assert one["outcome"] == "ingested"
    assert (two["outcome"], two["lead_id"]) == ("resent", one["lead_id"])
    events = await intake.events.settle()
    assert len([e for e in events if e["event_type"] == "lead.ingested"]) == 2
    assert not [e for e in events if e["event_type"] == "lead.duplicate"]


async def test_control_characters_never_reach_the_database(intake: Intake) -> None:
    source = await intake.source("acme")
    # Written by hand: a NUL byte in every kind of field (PostgreSQL refuses it in text and
    # jsonb, which answered 500 and left the raw payload pending for ever).
    body = (
        b'{"first_name": "A\\u0000nn", "last_name": "Roe\\u0007",'
        b' "email": "ann.nul@example.com\\u0000", "source_lead_id": "N\\u0000-1",'
        b' "comments": "first\\u0000 line\\n\\tsecond", "campaign": "c\\u0000",'
        b' "vehicle": {"make": "Vol\\u0000vo", "comments": "x\\u0000"},'
        b' "extensions": {"k\\u0000": "v\\u0000"}}'
    )
    r = await intake.client.post(
        "/v1/leads",
        content=body,
        headers={"X-Api-Key": source["api_key"], "Content-Type": "application/json"},
    )
    assert r.status_code == 202, r.text
    async with intake.app.state.engine.connect() as conn:
        lead = (
            await conn.execute(
                text("SELECT * FROM lead WHERE id = :id"), {"id": r.json()["lead_id"]}
            )
        ).one()
        raw = (
            await conn.execute(
                text("SELECT status, body FROM raw_payload WHERE id = :id"),
                {"id": r.json()["raw_payload_id"]},
            )
        ).one()
    assert (lead.first_name, lead.last_name, lead.email) == ("Ann", "Roe", "ann.nul@example.com")
    assert lead.source_lead_id == "N-1"
    assert lead.comments == "first line\n\tsecond"
    assert lead.vehicle["make"] == "Volvo"
    assert lead.extensions == {"k": "v"}
    assert raw.status == "processed"
    assert raw.body == body  # the raw payload is kept exactly as received


async def test_an_admin_name_with_a_control_character_is_refused(intake: Intake) -> None:
    r = await intake.client.post(
        "/v1/admin/dealerships",
        json={"name": "Acme\u0000Volvo", "country": "CA", "timezone": "America/Toronto"},
        headers=intake.staff("acme"),
    )
    assert r.status_code == 422, r.text
    assert "control characters" in r.text


async def test_a_field_over_its_cap_is_422_naming_it_and_kept(intake: Intake) -> None:
    source = await intake.source("acme")
    r = await intake.post(
        source["api_key"],
        {"email": "long@example.com", "comments": "x" * 10_001, "other_phones": ["1"] * 21},
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_payload"
    reasons = {e["field"]: e["reason"] for e in body["errors"]}
    assert reasons == {
        "comments": "String should have at most 10000 characters",
        "other_phones": "List should have at most 20 items after validation, not 21",
    }
    async with intake.app.state.engine.connect() as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM raw_payload WHERE id = :id"),
                {"id": body["raw_payload_id"]},
            )
        ).scalar_one()
    assert status == "invalid"

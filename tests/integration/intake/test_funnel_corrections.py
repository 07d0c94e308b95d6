"""Issue 12 at intake: the dealership's place on lead.ingested, ADF dates and ids, warnings,
and the admin's views of leads and rejections."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.intake.conftest import Intake

pytestmark = pytest.mark.integration


def adf(prospect: str) -> bytes:
    return f'<?xml version="1.0"?><adf><prospect>{prospect}</prospect></adf>'.encode()


CUSTOMER = (
    "<customer><contact><name part='first'>Ann</name><name part='last'>Roe</name>"
    "<email>{email}</email><phone>555-CALL-NOW</phone></contact></customer>"
)


async def post_adf(intake: Intake, key: str, doc: bytes) -> Any:
    r = await intake.client.post("/v1/leads/adf", content=doc, headers={"X-Api-Key": key})
    assert r.status_code in (202, 422), r.text
    return r.json()


async def test_lead_ingested_names_the_dealerships_zone_and_reads_bare_dates_there(
    intake: Intake,
) -> None:
    source = await intake.source("acme")  # the dealership is in America/Toronto, CA
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    doc = adf(
        "<requestdate>2026-03-02T18:07</requestdate>"  # no zone: Toronto's 18:07 (EST)
        + CUSTOMER.format(email=email)
    )
    [lead] = (await post_adf(intake, source["api_key"], doc))["leads"]
    [event] = await intake.events.wait_for("lead.ingested", lead_id=lead["lead_id"])
    payload = event["payload"]
    assert payload["dealership"] == {"timezone": "America/Toronto", "country": "CA"}
    assert payload["requested_at"] == "2026-03-02T23:07:00Z"  # not 18:07 UTC
    # The phone did not parse: dropped from the person, kept readable as a warning.
    assert payload["person"]["phone"] is None
    assert [(w["field"], w["value"]) for w in payload["warnings"]] == [("phone", "555-CALL-NOW")]


async def test_the_customers_adf_id_makes_a_second_post_a_resend(intake: Intake) -> None:
    source = await intake.source("acme")
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    customer = CUSTOMER.format(email=email).replace(
        "<customer>", '<customer><id source="CRM">C-77</id>'
    )
    first = (await post_adf(intake, source["api_key"], adf(customer)))["leads"]
    again = (await post_adf(intake, source["api_key"], adf(customer)))["leads"]
    assert [r["outcome"] for r in first] == ["ingested"]
    assert [r["outcome"] for r in again] == ["resent"]  # before: "merged", a second enquiry
    assert again[0]["lead_id"] == first[0]["lead_id"]
    [event] = await intake.events.wait_for("lead.ingested", lead_id=first[0]["lead_id"])
    assert event["payload"]["source_lead_id"] == "C-77"


async def test_a_json_request_date_with_a_truncated_offset_is_read(intake: Intake) -> None:
    source = await intake.source("acme")
    body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "requested_at": "2026-03-02T18:07-08"}
    r = await intake.post(source["api_key"], body)
    assert r.status_code == 202, r.text  # before: 422, the whole lead refused
    [event] = await intake.events.wait_for("lead.ingested", lead_id=r.json()["lead_id"])
    assert event["payload"]["requested_at"] == "2026-03-03T02:07:00Z"


async def test_admin_reads_a_lead_with_enquiries_warnings_and_payloads(intake: Intake) -> None:
    source = await intake.source("acme")
    other = await intake.source("acme")
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    first = await intake.post(
        source["api_key"], {"first_name": "Unknown", "email": email, "phone": "12"}
    )
    assert first.status_code == 202, first.text
    lead_id = first.json()["lead_id"]
    repeat = await intake.post(other["api_key"], {"email": email, "comments": "still there?"})
    assert repeat.json()["outcome"] == "merged", repeat.text
    admin = intake.staff("acme")

    r = await intake.client.get(f"/v1/leads/{lead_id}", headers=admin)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["email"] == email
    assert [(w["field"], w["value"]) for w in view["warnings"]] == [
        ("first_name", "Unknown"),
        ("phone", "12"),
    ]
    assert [e["outcome"] for e in view["enquiries"]] == ["ingested", "merged"]
    assert view["enquiries"][1]["comments"] == "still there?"
    assert [p["id"] for p in view["raw_payloads"]] == [
        first.json()["raw_payload_id"],
        repeat.json()["raw_payload_id"],
    ]
    assert '"Unknown"' in view["raw_payloads"][0]["body"]

    listed = await intake.client.get(
        "/v1/leads", params={"source": source["id"], "status": "open"}, headers=admin
    )
    assert listed.status_code == 200, listed.text
    assert [lead["id"] for lead in listed.json()] == [lead_id]
    later = await intake.client.get(
        "/v1/leads", params={"since": "2999-01-01T00:00:00Z"}, headers=admin
    )
    assert later.json() == []

    # Another dealer group sees none of it.
    globex = intake.staff("globex")
    assert (await intake.client.get(f"/v1/leads/{lead_id}", headers=globex)).status_code == 404
    raw = f"/v1/raw-payloads/{first.json()['raw_payload_id']}"
    assert (await intake.client.get(raw, headers=globex)).status_code == 404
    assert (await intake.client.get("/v1/leads", headers=globex)).json() == []
    assert (await intake.client.get(raw, headers=admin)).json()["status"] == "processed"
    # Agents and sources do not read it.
    agent = intake.staff("acme", role="agent")
    assert (await intake.client.get(f"/v1/leads/{lead_id}", headers=agent)).status_code == 403
    key = {"X-Api-Key": source["api_key"]}
    assert (await intake.client.get(f"/v1/leads/{lead_id}", headers=key)).status_code == 401


async def test_the_reject_log_lists_rejected_leads_per_source_with_the_reason(
    intake: Intake,
) -> None:
    source = await intake.source("acme")
    other = await intake.source("acme")
    refused = await intake.post(source["api_key"], {"first_name": "Ann", "phone": "000"})
    assert refused.status_code == 422, refused.text
    await intake.post(other["api_key"], {"first_name": "Bob"})
    admin = intake.staff("acme")

    r = await intake.client.get("/v1/rejections", params={"source": source["id"]}, headers=admin)
    assert r.status_code == 200, r.text
    [row] = r.json()
    assert row["source_name"] == source["name"]
    assert row["reason_code"] == "invalid.personal_data"
    assert {e["field"] for e in row["errors"]} == {"email", "phone"}
    assert row["raw_payload_id"] == refused.json()["raw_payload_id"]
    payload = await intake.client.get(f"/v1/raw-payloads/{row['raw_payload_id']}", headers=admin)
    assert '"000"' in payload.json()["body"]
    everything = await intake.client.get("/v1/rejections", headers=admin)
    assert len(everything.json()) == 2
    assert (await intake.client.get("/v1/rejections", headers=intake.staff("globex"))).json() == []
    for bad in (
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"source": "x"},
        {"since": "y"},
        {"since": "0001-01-01T00:00:00+05:00"},  # before year 1 in UTC: was a 500
    ):
        r = await intake.client.get("/v1/rejections", params=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)

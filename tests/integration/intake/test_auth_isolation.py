"""Keys and tokens: wrong or revoked keys get 401; one dealer group never touches another's."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.intake.conftest import Intake

pytestmark = pytest.mark.integration

LEAD = {"first_name": "Ann", "last_name": "Roe", "email": "ann.roe@example.com"}


async def test_missing_wrong_and_revoked_keys_get_401(intake: Intake) -> None:
    source = await intake.source("acme")
    assert (await intake.client.post("/v1/leads", json=LEAD)).status_code == 401
    assert (await intake.post("fck_000000000000_nope", LEAD)).status_code == 401
    assert (await intake.post(source["api_key"] + "x", LEAD)).status_code == 401
    # Used once, the key is in this replica's cache of verified keys: revoking must end it.
    assert (await intake.post(source["api_key"], LEAD)).status_code == 202
    r = await intake.client.post(
        f"/v1/admin/sources/{source['id']}/revoke", headers=intake.staff("acme")
    )
    assert r.status_code == 204
    assert (await intake.post(source["api_key"], LEAD)).status_code == 401


async def test_rotating_a_key_retires_the_old_one(intake: Intake) -> None:
    source = await intake.source("acme")
    assert (await intake.post(source["api_key"], LEAD)).status_code == 202
    r = await intake.client.post(
        f"/v1/admin/sources/{source['id']}/rotate-key", headers=intake.staff("acme")
    )
    new_key = r.json()["api_key"]
    assert (await intake.post(source["api_key"], LEAD)).status_code == 401
    assert (await intake.post(new_key, LEAD)).status_code == 202


async def test_keys_are_stored_hashed(intake: Intake) -> None:
    source = await intake.source("acme")
    async with intake.app.state.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT prefix, key_hash FROM source_api_key"))).all()
    assert stored
    assert all(source["api_key"] != row.key_hash for row in stored)
    assert all(source["api_key"] not in row.key_hash for row in stored)


async def test_admin_routes_need_an_admin_of_the_tenant(intake: Intake) -> None:
    assert (await intake.client.get("/v1/admin/sources")).status_code == 401
    r = await intake.client.get("/v1/admin/sources", headers=intake.staff("acme", role="agent"))
    assert r.status_code == 403
    r = await intake.client.get(
        "/v1/admin/sources", headers={"Authorization": "Bearer not.a.token"}
    )
    assert r.status_code == 401


async def test_tenants_are_walled_off(intake: Intake) -> None:
    acme = await intake.source("acme")
    other = await intake.source("globex")
    # A source of acme cannot file a lead into a globex dealership.
    r = await intake.post(acme["api_key"], LEAD | {"dealership_id": other["dealership_id"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "dealership_id"
    # globex's admin sees none of acme's sources and cannot rotate or revoke them.
    r = await intake.client.get("/v1/admin/sources", headers=intake.staff("globex"))
    assert [s["id"] for s in r.json()] == [other["id"]]
    for action in ("rotate-key", "revoke"):
        r = await intake.client.post(
            f"/v1/admin/sources/{acme['id']}/{action}", headers=intake.staff("globex")
        )
        assert r.status_code == 404
    # globex cannot attach a source to acme's dealership.
    r = await intake.client.post(
        "/v1/admin/sources",
        json={"name": "x", "kind": "website", "dealership_id": acme["dealership_id"]},
        headers=intake.staff("globex"),
    )
    assert r.status_code == 404
    # The same person in two dealer groups is two leads, never merged across the wall.
    a = (await intake.post(acme["api_key"], LEAD)).json()
    b = (await intake.post(other["api_key"], LEAD)).json()
    assert (a["outcome"], b["outcome"]) == ("ingested", "ingested")
    assert a["lead_id"] != b["lead_id"]
    # globex's source cannot read acme's bulk job.
    job = await intake.client.post(
        "/v1/leads/bulk",
        params={"mapping": '{"columns": {"email": "email"}}'},
        content=b"email\nx@example.com\n",
        headers={"X-Api-Key": acme["api_key"]},
    )
    job_id = job.json()["job_id"]
    r = await intake.client.get(f"/v1/leads/bulk/{job_id}", headers={"X-Api-Key": other["api_key"]})
    assert r.status_code == 404


async def test_admin_input_is_validated_with_field_and_reason(intake: Intake) -> None:
    r = await intake.client.post(
        "/v1/admin/dealerships",
        json={"name": "x", "country": "ZZ", "timezone": "Mars/Olympus"},
        headers=intake.staff("acme"),
    )
    assert r.status_code == 422
    fields = {tuple(e["loc"])[-1] for e in r.json()["detail"]}
    assert fields == {"country", "timezone"}

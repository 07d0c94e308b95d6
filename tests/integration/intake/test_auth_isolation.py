"""Keys and tokens: wrong or revoked keys get 401; one dealer group never touches another's."""

from __future__ import annotations

import asyncio

import httpx
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


# -- every route, lists too: another tenant's ids answer 404, lists show only the caller's rows --


async def test_admin_lists_show_only_the_callers_dealer_group(intake: Intake) -> None:
    acme = await intake.source("acme", name="Acme site")
    globex = await intake.source("globex", name="Globex site")
    # Names are unique per dealer group, not across them.
    same_name = await intake.dealership("acme", name="Downtown")
    assert await intake.dealership("globex", name="Downtown") != same_name

    for tenant, mine in (("acme", acme), ("globex", globex)):
        staff = intake.staff(tenant)
        r = await intake.client.get("/v1/admin/dealerships", headers=staff)
        assert r.status_code == 200
        dealerships = {d["id"] for d in r.json()}
        assert mine["dealership_id"] in dealerships
        theirs = globex if tenant == "acme" else acme
        assert theirs["dealership_id"] not in dealerships
        assert len(dealerships) == 2  # its source's dealership and its "Downtown"
        r = await intake.client.get("/v1/admin/sources", headers=staff)
        assert [s["id"] for s in r.json()] == [mine["id"]]


async def test_settings_are_per_dealer_group(intake: Intake) -> None:
    acme_rules = {"rules": [{"field": "email", "pattern": "@acme-test\\.example$"}]}
    r = await intake.client.put(
        "/v1/admin/settings",
        json={"dedup_window_days": 7, "test_rules": acme_rules},
        headers=intake.staff("acme"),
    )
    assert r.status_code == 200, r.text
    # globex reads its own (the defaults), never acme's...
    r = await intake.client.get("/v1/admin/settings", headers=intake.staff("globex"))
    assert r.json()["dedup_window_days"] == 30
    assert "acme-test" not in r.text
    # ... and writing its own leaves acme's alone.
    r = await intake.client.put(
        "/v1/admin/settings",
        json={"dedup_window_days": 90, "test_rules": {"rules": []}},
        headers=intake.staff("globex"),
    )
    assert r.status_code == 200
    r = await intake.client.get("/v1/admin/settings", headers=intake.staff("acme"))
    assert r.json()["dedup_window_days"] == 7
    assert r.json()["test_rules"]["rules"][0]["pattern"] == "@acme-test\\.example$"


async def test_another_groups_source_is_not_found_and_its_key_keeps_working(
    intake: Intake,
) -> None:
    acme = await intake.source("acme")
    for action in ("rotate-key", "revoke"):
        r = await intake.client.post(
            f"/v1/admin/sources/{acme['id']}/{action}", headers=intake.staff("globex")
        )
        assert r.status_code == 404, (action, r.text)
    assert (await intake.post(acme["api_key"], LEAD)).status_code == 202


async def _bulk(intake: Intake, key: str, **params: str) -> httpx.Response:
    return await intake.client.post(
        "/v1/leads/bulk",
        params={"mapping": '{"columns": {"email": "email"}}'} | params,
        content=b"email\nrow.one@example.com\n",
        headers={"X-Api-Key": key},
    )


async def test_bulk_jobs_and_their_rows_are_walled_off(intake: Intake) -> None:
    acme = await intake.source("acme")
    globex = await intake.source("globex")
    job_id = (await _bulk(intake, acme["api_key"])).json()["job_id"]
    mine = {"X-Api-Key": acme["api_key"]}
    async with asyncio.timeout(20):
        while (await intake.client.get(f"/v1/leads/bulk/{job_id}", headers=mine)).json()[
            "status"
        ] != "done":
            await asyncio.sleep(0.1)
    r = await intake.client.get(f"/v1/leads/bulk/{job_id}/rows", headers=mine)
    assert [row["row_number"] for row in r.json()] == [2]  # what the owner sees

    theirs = {"X-Api-Key": globex["api_key"]}
    assert (await intake.client.get(f"/v1/leads/bulk/{job_id}", headers=theirs)).status_code == 404
    for params in ({}, {"outcome": "ingested"}, {"after": "0", "limit": "10"}):
        r = await intake.client.get(f"/v1/leads/bulk/{job_id}/rows", params=params, headers=theirs)
        assert r.status_code == 404, (params, r.text)


async def test_a_bulk_upload_into_another_groups_dealership_is_refused(intake: Intake) -> None:
    acme = await intake.source("acme")
    globex = await intake.source("globex")
    r = await _bulk(intake, globex["api_key"], dealership_id=acme["dealership_id"])
    assert r.status_code in (404, 422), r.text
    assert "dealership" in r.text
    async with intake.app.state.engine.connect() as conn:
        leads = (
            await conn.execute(
                text("SELECT count(*) FROM lead WHERE dealership_id = :d"),
                {"d": acme["dealership_id"]},
            )
        ).scalar_one()
    assert leads == 0

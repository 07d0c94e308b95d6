"""The dealership policy routes: only a dealership of the caller's group that crm-queue knows."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.crm_queue.conftest import Crm, duplicate, ingested

pytestmark = pytest.mark.integration


async def policy_rows(crm: Crm) -> list[Any]:
    async with crm.app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(text("SELECT tenant_id, dealership_id FROM dealership_policy"))
        return [tuple(r) for r in rows]


async def test_policy_of_a_dealership_not_known_for_the_tenant_is_404(crm: Crm) -> None:
    lead = ingested("acme", "d1")
    await crm.publish(lead)
    await crm.row_when(lead.lead_id, lambda r: True)
    body = {"hours": {"timezone": "UTC", "week": {"mon": [["09:00", "17:00"]]}}}
    globex = crm.staff("manager", tenant="globex", dealerships=("d1",))
    admin = crm.staff("admin", tenant="acme", dealerships=())  # every dealership of acme
    for headers, dealership in (
        (globex, "d1"),  # acme's dealership, asked for by another dealer group
        (admin, "d9"),  # a dealership acme has no lead in: crm-queue does not know it
        (crm.staff("manager", dealerships=("d9",)), "d9"),
    ):
        url = f"/v1/dealerships/{dealership}/policy"
        assert (await crm.client.get(url, headers=headers)).status_code == 404
        assert (await crm.client.put(url, json=body, headers=headers)).status_code == 404
    assert await policy_rows(crm) == []
    # acme's own d1 is known from its lead.
    r = await crm.client.put("/v1/dealerships/d1/policy", json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert await policy_rows(crm) == [("acme", "d1")]


@pytest.mark.parametrize("dealership", ["d" * 5000, "d1%00", "d%201", "-d1", "d1;drop"])
async def test_malformed_dealership_ids_are_422(crm: Crm, dealership: str) -> None:
    admin = crm.staff("admin", dealerships=())
    url = f"/v1/dealerships/{dealership}/policy"
    body = {"hours": {"timezone": "UTC", "week": {"mon": [["09:00", "17:00"]]}}}
    r = await crm.client.get(url, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["path", "dealership_id"]
    assert (await crm.client.put(url, json=body, headers=admin)).status_code == 422
    assert await policy_rows(crm) == []


async def test_a_repeat_alone_makes_its_dealership_known(crm: Crm) -> None:
    lead = ingested("acme", "d7")
    await crm.publish(duplicate(lead, lead.payload.received_at))
    await crm.row_when(lead.lead_id, lambda r: True)
    r = await crm.client.get(
        "/v1/dealerships/d7/policy", headers=crm.staff("manager", dealerships=("d7",))
    )
    assert r.status_code == 200


async def test_a_policy_that_never_opens_is_422_and_a_stored_one_does_not_stall_leads(
    crm: Crm,
) -> None:
    lead = ingested("acme", "d1")
    await crm.publish(lead)
    await crm.row_when(lead.lead_id, lambda r: True)
    manager = crm.staff("manager")
    closed = {"hours": {"timezone": "Europe/Berlin", "week": {"mon": [], "sat": []}}}
    r = await crm.client.put("/v1/dealerships/d1/policy", json=closed, headers=manager)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("hours.week:")
    assert await policy_rows(crm) == []
    # One stored before this rule: the dealership's leads still become tasks (default policy).
    async with crm.app.state.runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dealership_policy (tenant_id, dealership_id, policy) "
                "VALUES ('acme', 'd1', CAST(:policy AS jsonb))"
            ),
            {"policy": json.dumps(closed)},
        )
    later = ingested("acme", "d1")
    await crm.publish(later)
    task = await crm.row_when(later.lead_id, lambda r: True)
    assert task["sla_due_at"] == later.payload.received_at + timedelta(minutes=15)

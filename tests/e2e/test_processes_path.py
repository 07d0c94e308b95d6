"""The whole path with real processes: intake and crm-queue started as ops start them (their
console scripts, separate OS processes), a lead POSTed to intake reaches crm-queue's queue."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.live import Live

pytestmark = [pytest.mark.e2e, pytest.mark.processes]


async def test_a_lead_posted_to_intake_appears_in_the_crm_queue(live: Live) -> None:
    # Two separate processes: neither imports the other's code at run time.
    assert live.intake.popen.pid != live.crm.popen.pid
    acme = await live.tenant()
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{live.intake.base_url}/v1/leads",
            json={"first_name": "Ann", "last_name": "Roe", "email": "ann.proc@example.com"},
            headers={"X-Api-Key": acme.api_key},
        )
        assert r.status_code == 202, r.text
        lead_id = r.json()["lead_id"]

        agent = live.staff(acme.id, "agent", acme.dealership_id)
        queue: list[dict[str, object]] = []
        async with asyncio.timeout(30):
            while not any(t["lead_id"] == lead_id for t in queue):
                await asyncio.sleep(0.2)
                r = await client.get(f"{live.crm.base_url}/v1/queue", headers=agent)
                assert r.status_code == 200, r.text
                queue = r.json()
    [task] = queue
    assert task["dealership_id"] == acme.dealership_id
    assert task["person"]["email"] == "ann.proc@example.com"
    assert task["state"] == "open"

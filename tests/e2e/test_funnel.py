"""intake and crm-queue together over the real broker: a lead posted to intake lands in the CRM
agents' queue, and a write-off there closes the lead in intake. Both apps run in this test's
process (real lifespans, each its own database); test_processes_path.py runs them as processes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_queue.entrypoints.http.app import create_app as create_crm
from intake.entrypoints.http.app import create_app as create_intake
from shared.auth import issue_token
from shared.db import drop_database
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from tests.integration.crm_queue.conftest import crm_settings
from tests.integration.intake.conftest import Events, Intake, intake_settings

pytestmark = pytest.mark.e2e


async def test_lead_flows_from_intake_to_the_crm_queue_and_back(
    database_url: str, common_settings: CommonSettings, topology: Topology
) -> None:
    crm_db = make_url(database_url).set(database=make_url(database_url).database + "_crm")
    crm_url = crm_db.render_as_string(hide_password=False)
    intake_app = create_intake(intake_settings(database_url, common_settings), topology=topology)
    crm_app = create_crm(crm_settings(crm_url, common_settings), topology=topology)
    try:
        async with (
            LifespanManager(crm_app) as crm_m,
            LifespanManager(intake_app) as intake_m,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=intake_m.app), base_url="http://intake"
            ) as intake_client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=crm_m.app), base_url="http://crm"
            ) as crm_client,
        ):
            intake = Intake(intake_app, intake_client, common_settings, Events(None))  # type: ignore[arg-type]
            source = await intake.source("acme")
            r = await intake.post(
                source["api_key"],
                {
                    "first_name": "Ann",
                    "last_name": "Roe",
                    "email": "ann.e2e@example.com",
                    "phone": "+15195550142",
                    "vehicle": {"make": "Volvo", "model": "XC60"},
                },
            )
            assert r.status_code == 202, r.text
            lead_id = r.json()["lead_id"]

            def staff(role: str) -> dict[str, str]:
                token = issue_token(
                    common_settings,
                    subject="ana",
                    role=role,  # type: ignore[arg-type]
                    tenant="acme",
                    dealerships=[source["dealership_id"]],
                )
                return {"Authorization": f"Bearer {token}"}

            queue: list[dict[str, Any]] = []
            async with asyncio.timeout(20):
                while not queue:
                    queue = (await crm_client.get("/v1/queue", headers=staff("agent"))).json()
                    await asyncio.sleep(0.1)
            [task] = queue
            assert task["lead_id"] == lead_id
            assert task["person"]["email"] == "ann.e2e@example.com"
            assert task["vehicle"]["model"] == "XC60"

            # The customer asks again through another source: the task is raised.
            r = await intake.post(source["api_key"], {"phone": "(519) 555-0142"})
            assert r.json()["outcome"] == "merged"
            async with asyncio.timeout(20):
                while (await crm_client.get(f"/v1/leads/{lead_id}", headers=staff("agent"))).json()[
                    "enquiries"
                ] < 2:
                    await asyncio.sleep(0.1)

            # Reached, but bought elsewhere: written off with a code; intake closes the lead.
            base = f"/v1/leads/{lead_id}"
            assert (await crm_client.post(f"{base}/claim", headers=staff("agent"))).is_success
            await crm_client.post(
                f"{base}/attempts",
                headers=staff("agent"),
                json={"channel": "call", "outcome": "reached"},
            )
            r = await crm_client.post(
                f"{base}/lose",
                headers=staff("agent"),
                json={"reason_code": "no_interest.bought_other_car"},
            )
            assert r.status_code == 200, r.text

            async with asyncio.timeout(20):
                while True:
                    async with intake_app.state.engine.connect() as conn:
                        status = (
                            await conn.execute(
                                text("SELECT status FROM lead WHERE id = :id"), {"id": lead_id}
                            )
                        ).scalar_one()
                    if status == "closed":
                        break
                    await asyncio.sleep(0.1)

            # The customer asks again after the loss: a new lead following the lost one, with
            # its own task in the agents' queue (before, merged into the closed lead: no call).
            r = await intake.post(source["api_key"], {"phone": "(519) 555-0142"})
            assert r.json()["outcome"] == "ingested"
            again = r.json()["lead_id"]
            async with asyncio.timeout(20):
                while again not in [
                    t["lead_id"]
                    for t in (await crm_client.get("/v1/queue", headers=staff("agent"))).json()
                ]:
                    await asyncio.sleep(0.1)
    finally:
        await drop_database(crm_url)

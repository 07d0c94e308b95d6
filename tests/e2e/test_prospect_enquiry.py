"""intake, crm-queue and assignment together over the real broker (issue 13): a new enquiry
from a person who is already a prospect reaches their consultant as an activity on the prospect,
not a new lead in the agents' queue; once the prospect is won, a new enquiry is a new lead
again. The three apps run in this test's process, each with its own database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from assignment.entrypoints.http.app import create_app as create_assignment
from crm_queue.entrypoints.http.app import create_app as create_crm
from intake.entrypoints.http.app import create_app as create_intake
from shared.auth import issue_token
from shared.db import drop_database
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from tests.integration.assignment.conftest import assignment_settings
from tests.integration.crm_queue.conftest import crm_settings
from tests.integration.intake.conftest import Events, Intake, intake_settings

pytestmark = pytest.mark.e2e


async def until(check: Callable[[], Awaitable[Any]], within: float = 20.0) -> Any:
    async with asyncio.timeout(within):
        while not (found := await check()):
            await asyncio.sleep(0.1)
    return found


async def test_a_prospects_new_enquiry_reaches_the_consultant_not_the_agents(
    database_url: str, common_settings: CommonSettings, topology: Topology
) -> None:
    base = make_url(database_url)
    crm_url = base.set(database=f"{base.database}_crm").render_as_string(hide_password=False)
    asg_url = base.set(database=f"{base.database}_asg").render_as_string(hide_password=False)
    intake_app = create_intake(intake_settings(database_url, common_settings), topology=topology)
    crm_app = create_crm(crm_settings(crm_url, common_settings), topology=topology)
    asg_app = create_assignment(assignment_settings(asg_url, common_settings), topology=topology)
    try:
        async with (
            LifespanManager(crm_app) as crm_m,
            LifespanManager(asg_app) as asg_m,
            LifespanManager(intake_app) as intake_m,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=intake_m.app), base_url="http://intake"
            ) as intake_client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=crm_m.app), base_url="http://crm"
            ) as crm,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=asg_m.app), base_url="http://assign"
            ) as asg,
        ):
            intake = Intake(intake_app, intake_client, common_settings, Events(None))  # type: ignore[arg-type]
            source = await intake.source("acme")
            dealership = source["dealership_id"]

            def staff(role: str, subject: str) -> dict[str, str]:
                token = issue_token(
                    common_settings,
                    subject=subject,
                    role=role,  # type: ignore[arg-type]
                    tenant="acme",
                    dealerships=[dealership],
                )
                return {"Authorization": f"Bearer {token}"}

            agent, manager, cara = (
                staff("agent", "ana"),
                staff("manager", "mia"),
                staff("consultant", "cara"),
            )
            r = await asg.post(
                "/v1/consultants",
                json={"consultant_id": "cara", "dealership_id": dealership, "name": "Cara"},
                headers=manager,
            )
            assert r.status_code == 201, r.text
            assert (await asg.post("/v1/consultants/cara/clock-in", headers=cara)).is_success

            async def status(lead_id: str) -> str:
                async with intake_app.state.engine.connect() as conn:
                    found: str = (
                        await conn.execute(
                            text("SELECT status FROM lead WHERE id = :id"), {"id": lead_id}
                        )
                    ).scalar_one()
                return found

            async def queue() -> list[str]:
                return [t["lead_id"] for t in (await crm.get("/v1/queue", headers=agent)).json()]

            person = {"email": "ann.prospect@example.com", "phone": "+15195550142"}
            r = await intake.post(source["api_key"], person | {"first_name": "Ann"})
            assert r.status_code == 202, r.text
            lead_id = r.json()["lead_id"]
            await until(lambda: _contains(queue, lead_id))
            assert (await crm.post(f"/v1/leads/{lead_id}/claim", headers=agent)).is_success
            r = await crm.post(
                f"/v1/leads/{lead_id}/qualify",
                json={"outcome": "quotation.requested"},
                headers=agent,
            )
            assert r.status_code == 200, r.text

            async def prospect() -> dict[str, Any] | None:
                r = await asg.get(f"/v1/prospects/{lead_id}", headers=manager)
                return r.json() if r.status_code == 200 else None

            p = await until(prospect)
            p = await until(lambda: _when(prospect, lambda p: p["consultant_id"] == "cara"))
            await until(lambda: _equals(status(lead_id), "prospect"))

            # Ann asks again, through the same source: merged into her prospect.
            r = await intake.post(
                source["api_key"], {"phone": "(519) 555-0142", "comments": "is the XC60 ready?"}
            )
            assert (r.json()["outcome"], r.json()["lead_id"]) == ("merged", lead_id)
            p = await until(lambda: _when(prospect, lambda p: p["enquired_at"] is not None))
            [activity] = [a for a in p["activities"] if a["kind"] == "enquiry"]
            assert activity["note"] == "is the XC60 ready?"
            assert activity["consultant_id"] is None
            mine = (await asg.get("/v1/prospects/mine", headers=cara)).json()
            assert [(m["lead_id"], m["enquired_at"]) for m in mine] == [(lead_id, p["enquired_at"])]
            # Not work for the agents: the qualified task is neither counted nor reopened.
            task = (await crm.get(f"/v1/leads/{lead_id}", headers=agent)).json()
            assert (task["state"], task["enquiries"]) == ("qualified", 1)
            assert await queue() == []

            # Cara sells Ann a car: the prospect closes, in intake too.
            r = await asg.post(
                f"/v1/prospects/{lead_id}/win",
                json={
                    "vehicle": {"make": "Volvo", "model": "XC60"},
                    "price": "61990.00",
                    "currency": "CAD",
                },
                headers=cara,
            )
            assert r.status_code == 200, r.text
            await until(lambda: _equals(status(lead_id), "closed"))

            # Ann asks again after buying: a new lead following the won one, for the agents.
            r = await intake.post(source["api_key"], {"email": "ann.prospect@example.com"})
            assert r.json()["outcome"] == "ingested"
            again = r.json()["lead_id"]
            await until(lambda: _contains(queue, again))
            task = (await crm.get(f"/v1/leads/{again}", headers=agent)).json()
            assert task["state"] == "open"
            assert (await until(prospect))["state"] == "won"
    finally:
        await drop_database(crm_url)
        await drop_database(asg_url)


async def _contains(items: Callable[[], Awaitable[list[str]]], wanted: str) -> bool:
    return wanted in await items()


async def _equals(value: Awaitable[Any], wanted: Any) -> bool:
    return bool(await value == wanted)


async def _when(
    read: Callable[[], Awaitable[dict[str, Any] | None]], ok: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    found = await read()
    return found if found is not None and ok(found) else None

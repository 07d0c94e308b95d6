"""Two intake replicas on one database: the same person at once yields exactly one lead."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from intake.entrypoints.http.app import create_app
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from tests.integration.intake.conftest import Intake, intake_settings

pytestmark = pytest.mark.integration


async def test_same_lead_posted_to_two_replicas_at_once_yields_one_lead(
    intake: Intake, database_url: str, common_settings: CommonSettings, topology: Topology
) -> None:
    source = await intake.source("acme")
    second = create_app(intake_settings(database_url, common_settings), topology=topology)
    async with LifespanManager(second) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as other:
            clients = [intake.client, other]
            people = [
                {
                    "first_name": f"P{i}",
                    "email": f"person{i}@example.com",
                    "phone": f"+1519555{i:04d}",
                }
                for i in range(10)
            ]
            # Each person posted four times at once, spread over both replicas; the variants
            # share the phone (a phone-only and an email-only enquiry share nothing to match).
            posts = []
            for person in people:
                variants = [
                    person,
                    person,
                    {"phone": person["phone"]},
                    {"email": person["email"], "phone": person["phone"]},
                ]
                for n, body in enumerate(variants):
                    posts.append(
                        clients[n % 2].post(
                            "/v1/leads", json=body, headers={"X-Api-Key": source["api_key"]}
                        )
                    )
            responses = await asyncio.gather(*posts)
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    outcomes = Counter(r.json()["outcome"] for r in responses)
    assert outcomes == {"ingested": 10, "merged": 30}
    async with intake.app.state.engine.connect() as conn:
        leads = (await conn.execute(text("SELECT count(*) FROM lead"))).scalar_one()
    assert leads == 10


async def test_same_idempotency_key_at_once_is_one_lead_and_no_merge(intake: Intake) -> None:
    source = await intake.source("acme")
    body = {"email": "same@example.com", "source_lead_id": "X-1"}
    responses = await asyncio.gather(*(intake.post(source["api_key"], body) for _ in range(6)))
    outcomes = Counter(r.json()["outcome"] for r in responses)
    assert outcomes == {"ingested": 1, "resent": 5}
    assert len({r.json()["lead_id"] for r in responses}) == 1

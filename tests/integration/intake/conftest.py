"""Intake running for real (its lifespan: migrations, broker, relay, workers) behind httpx,
and a probe queue that sees every event it publishes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from intake.config import IntakeSettings
from intake.entrypoints.http.app import create_app
from shared.auth import issue_token
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.running import Events, probe

__all__ = ["Events", "probe"]  # re-exported: other services' tests import them from here


@dataclass
class Intake:
    app: FastAPI
    client: httpx.AsyncClient
    settings: CommonSettings
    events: Events

    def staff(self, tenant: str, role: str = "admin", **kw: Any) -> dict[str, str]:
        token = issue_token(self.settings, subject="t", role=role, tenant=tenant, **kw)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def dealership(self, tenant: str, country: str = "CA", name: str | None = None) -> str:
        r = await self.client.post(
            "/v1/admin/dealerships",
            json={
                "name": name or f"d-{uuid.uuid4().hex[:6]}",
                "country": country,
                "timezone": "America/Toronto",
            },
            headers=self.staff(tenant),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def source(
        self, tenant: str, dealership_id: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        dealership_id = dealership_id or await self.dealership(tenant)
        body = {
            "name": f"s-{uuid.uuid4().hex[:6]}",
            "kind": "marketplace",
            "dealership_id": dealership_id,
            "cost_per_lead": "15.00",
            "currency": "EUR",
        } | kw
        r = await self.client.post("/v1/admin/sources", json=body, headers=self.staff(tenant))
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def no_test_rules(self, tenant: str) -> None:
        r = await self.client.put(
            "/v1/admin/settings",
            json={"dedup_window_days": 30, "test_rules": {"rules": []}},
            headers=self.staff(tenant),
        )
        assert r.status_code == 200, r.text

    async def post(self, key: str, body: Any, **headers: str) -> httpx.Response:
        return await self.client.post("/v1/leads", json=body, headers={"X-Api-Key": key, **headers})


def intake_settings(database_url: str, common: CommonSettings, **kw: Any) -> IntakeSettings:
    # A relay thread starts with the app, not a process to spawn per test; the relay process
    # (intake's default) is covered by tests/e2e/test_processes.py.
    kw.setdefault("relay_mode", "thread")
    kw.setdefault("stale_raw_seconds", 2)
    return IntakeSettings(database_url=database_url, common=common, **kw)


@pytest.fixture
async def intake(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> AsyncIterator[Intake]:
    connection, events = await probe(amqp_url, topology)
    app = create_app(intake_settings(database_url, common_settings), topology=topology)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield Intake(app, client, common_settings, events)
    await connection.close()

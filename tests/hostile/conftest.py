"""The dealer groups the hostile-input suite plays with, on the services of tests/live.py:
an attacker, a victim whose ids the attacker tries, and a bystander whose next good request
must go through after each case."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from shared.db import asyncpg_dsn
from tests.hostile import timing
from tests.live import Live, Tenant


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The hostile cases closest to their time budgets, with what they measured."""
    lines = timing.summary()
    if lines:
        terminalreporter.section("hostile cases: the 10 slowest (share of their budgets)")
        for line in lines:
            terminalreporter.write_line(line)


@dataclass
class World:
    live: Live
    attacker: Tenant
    victim: Tenant
    bystander: Tenant
    victim_lead: str  # a task in crm-queue
    victim_job: str  # a bulk job in intake
    intake: httpx.AsyncClient
    crm: httpx.AsyncClient
    amqp: aio_pika.abc.AbstractConnection
    intake_db: asyncpg.Pool
    fresh_lead: str = ""  # set by cases that change a lead, so none sees another's leftovers

    async def claimed_lead(self) -> str:
        """A new lead of the attacker's, in crm-queue and claimed by its agent mallory."""
        r = await self.lead(self.attacker, {"email": f"{uuid.uuid4().hex}@example.com"})
        assert r.status_code == 202, r.text
        lead_id: str = r.json()["lead_id"]
        await _task(self.live, self.attacker, lead_id)
        r = await self.crm_act(lead_id, "claim")
        assert r.status_code == 200, r.text
        return lead_id

    def staff(self, tenant: Tenant, role: str = "admin", sub: str = "mallory") -> dict[str, str]:
        dealerships = () if role == "admin" else (tenant.dealership_id,)
        return {"Authorization": f"Bearer {self.live.token(tenant.id, role, dealerships, sub)}"}

    async def lead(self, tenant: Tenant, body: Any, **headers: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.intake.post(
            "/v1/leads",
            content=content,
            headers={"X-Api-Key": tenant.api_key, "Content-Type": "application/json", **headers},
        )

    async def adf(self, tenant: Tenant, body: bytes | str) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else body
        return await self.intake.post(
            "/v1/leads/adf",
            content=content,
            headers={"X-Api-Key": tenant.api_key, "Content-Type": "application/xml"},
        )

    async def bulk(
        self, tenant: Tenant, data: bytes, mapping: Any = None, **params: str
    ) -> httpx.Response:
        mapping = mapping if mapping is not None else {"columns": {"email": "email"}}
        raw = mapping if isinstance(mapping, str) else json.dumps(mapping)
        return await self.intake.post(
            "/v1/leads/bulk",
            params={"mapping": raw, **params},
            content=data,
            headers={"X-Api-Key": tenant.api_key, "Content-Type": "text/csv"},
        )

    async def crm_act(
        self, lead_id: str, action: str, body: Any = None, role: str = "agent"
    ) -> httpx.Response:
        return await self.crm.post(
            f"/v1/leads/{lead_id}/{action}", json=body, headers=self.staff(self.attacker, role)
        )

    async def raw_payload(self, raw_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.intake_db.fetchrow(
            "SELECT status, error FROM raw_payload WHERE id = $1", uuid.UUID(raw_id)
        )
        return row

    async def raw_payload_of_message(self, message_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.intake_db.fetchrow(
            "SELECT id, status, error FROM raw_payload WHERE idempotency_key = $1", message_id
        )
        return row


async def _task(live: Live, tenant: Tenant, lead_id: str) -> None:
    async with httpx.AsyncClient(base_url=live.crm.base_url) as client, asyncio.timeout(30):
        while (
            await client.get(f"/v1/leads/{lead_id}", headers=live.staff(tenant.id))
        ).status_code != 200:
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def world(live: Live) -> AsyncIterator[World]:
    attacker, victim, bystander = [
        await live.tenant(f"{who}-{uuid.uuid4().hex[:6]}")
        for who in ("attacker", "victim", "bystander")
    ]
    async with (
        httpx.AsyncClient(base_url=live.intake.base_url, timeout=30) as intake,
        httpx.AsyncClient(base_url=live.crm.base_url, timeout=30) as crm,
    ):
        r = await intake.post(
            "/v1/leads",
            json={"first_name": "Vic", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
            headers={"X-Api-Key": victim.api_key},
        )
        assert r.status_code == 202, r.text
        victim_lead = r.json()["lead_id"]
        await _task(live, victim, victim_lead)
        r = await intake.post(
            "/v1/leads/bulk",
            params={"mapping": '{"columns": {"email": "email"}}'},
            content=b"email\nvictim.job@example.com\n",
            headers={"X-Api-Key": victim.api_key},
        )
        assert r.status_code == 202, r.text
        victim_job = r.json()["job_id"]
        connection = await aio_pika.connect(live.common.amqp_url)
        pool = await asyncpg.create_pool(
            asyncpg_dsn(live.intake.database_url), min_size=1, max_size=2
        )
        try:
            yield World(
                live=live,
                attacker=attacker,
                victim=victim,
                bystander=bystander,
                victim_lead=victim_lead,
                victim_job=victim_job,
                intake=intake,
                crm=crm,
                amqp=connection,
                intake_db=pool,
            )
        finally:
            await pool.close()
            await connection.close()

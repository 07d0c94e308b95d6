"""intake and crm-queue running as OS processes for the whole session (`live`), each on its own
database and a namespace of its own on the broker, as `make up` runs them: the end-to-end path,
the API property tests (tests/api/) and the hostile-input suite (tests/hostile/) use them.
assignment and recovery join them on the same broker namespace (`downstream`) for the tests that
ask for them: a lead qualified in crm-queue becomes their prospect, a lost one their follow-up;
metrics (`metrics_service`) likewise, counting every event.

Loaded as a pytest plugin by tests/conftest.py; nothing starts unless a test asks for `live`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from forecourt_chaos.adapters.local_system import declared_queues
from shared.auth import issue_token
from shared.db import drop_database, ensure_database
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.services import ServiceProcess, delete_names

JWT_SECRET = "live-test-secret-of-at-least-thirty-two-bytes"


@dataclass(frozen=True)
class Tenant:
    """A dealer group with one dealership and one lead source in intake."""

    id: str
    dealership_id: str
    source_id: str
    api_key: str


@dataclass
class Live:
    intake: ServiceProcess
    crm: ServiceProcess
    common: CommonSettings
    topology: Topology

    def token(
        self, tenant: str, role: str = "admin", dealerships: tuple[str, ...] = (), sub: str = "t"
    ) -> str:
        return issue_token(
            self.common,
            subject=sub,
            role=role,  # type: ignore[arg-type]
            tenant=tenant,
            dealerships=dealerships,
        )

    def staff(self, tenant: str, role: str = "admin", *dealerships: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, role, dealerships)}"}

    async def tenant(self, name: str | None = None) -> Tenant:
        """A new dealer group (a unique id unless `name`), with no test-lead rules."""
        tenant = name or f"tenant-{uuid.uuid4().hex[:8]}"
        admin = self.staff(tenant)
        async with httpx.AsyncClient(base_url=self.intake.base_url, headers=admin) as client:
            r = await client.post(
                "/v1/admin/dealerships",
                json={"name": f"d-{uuid.uuid4().hex[:6]}", "country": "CA", "timezone": "UTC"},
            )
            assert r.status_code == 201, r.text
            dealership = r.json()["id"]
            r = await client.post(
                "/v1/admin/sources",
                json={
                    "name": f"s-{uuid.uuid4().hex[:6]}",
                    "kind": "website",
                    "dealership_id": dealership,
                },
            )
            assert r.status_code == 201, r.text
            source = r.json()
            r = await client.put(
                "/v1/admin/settings", json={"dedup_window_days": 30, "test_rules": {"rules": []}}
            )
            assert r.status_code == 200, r.text
        return Tenant(tenant, dealership, source["id"], source["api_key"])


@dataclass
class Downstream:
    assignment: ServiceProcess
    recovery: ServiceProcess


def _live_database(pg_server_url: str, run_id: str, name: str) -> str:
    database = f"fc_test_{run_id}_live_{name}"
    return make_url(pg_server_url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def live(pg_server_url: str, amqp_url: str, run_id: str) -> AsyncIterator[Live]:
    topology = Topology(namespace=f"live{uuid.uuid4().hex[:8]}.", delivery_limit=5)
    common = CommonSettings(
        amqp_url=amqp_url,
        namespace=topology.namespace,
        delivery_limit=topology.delivery_limit,
        jwt_secret=SecretStr(JWT_SECRET),
    )
    urls = {name: _live_database(pg_server_url, run_id, name) for name in ("intake", "crm_queue")}
    for url in urls.values():
        await ensure_database(url)
    intake = ServiceProcess.start("intake", database_url=urls["intake"], common=common)
    crm = ServiceProcess.start("crm-queue", database_url=urls["crm_queue"], common=common)
    try:
        await asyncio.gather(intake.wait_ready(), crm.wait_ready())
        yield Live(intake, crm, common, topology)
    finally:
        await asyncio.gather(asyncio.to_thread(intake.stop), asyncio.to_thread(crm.stop))
        for url in urls.values():
            await drop_database(url)
        await delete_names(amqp_url, topology, declared_queues(topology))


@pytest.fixture(scope="session")
async def downstream(live: Live, pg_server_url: str, run_id: str) -> AsyncIterator[Downstream]:
    """assignment and recovery as processes, consuming what `live`'s services publish (their
    queues are deleted with `live`'s)."""
    urls = {
        name: _live_database(pg_server_url, run_id, name) for name in ("assignment", "recovery")
    }
    for url in urls.values():
        await ensure_database(url)
    assignment = ServiceProcess.start(
        "assignment", database_url=urls["assignment"], common=live.common
    )
    recovery = ServiceProcess.start("recovery", database_url=urls["recovery"], common=live.common)
    try:
        await asyncio.gather(assignment.wait_ready(), recovery.wait_ready())
        yield Downstream(assignment, recovery)
    finally:
        await asyncio.gather(asyncio.to_thread(assignment.stop), asyncio.to_thread(recovery.stop))
        for url in urls.values():
            await drop_database(url)


@pytest.fixture(scope="session")
async def metrics_service(
    live: Live, pg_server_url: str, run_id: str
) -> AsyncIterator[ServiceProcess]:
    """metrics as a process, counting what `live`'s services (and `downstream`'s, when running)
    publish; its queues are deleted with `live`'s."""
    url = _live_database(pg_server_url, run_id, "metrics")
    await ensure_database(url)
    metrics = ServiceProcess.start("metrics", database_url=url, common=live.common)
    try:
        await metrics.wait_ready()
        yield metrics
    finally:
        await asyncio.to_thread(metrics.stop)
        await drop_database(url)

"""A service holds no more PostgreSQL connections than docs/operations.md budgets for it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_queue.config import CrmQueueSettings
from crm_queue.entrypoints.http.app import create_app
from shared.db import asyncpg_dsn
from shared.messaging.topology import Topology
from shared.runtime import Runtime
from shared.settings import CommonSettings

pytestmark = pytest.mark.integration


async def _backends(admin: asyncpg.Connection, database: str) -> int:
    count = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
    )
    return int(count)


async def _peak_under_load(runtime: Runtime, database_url: str, requests: int) -> int:
    """Most connections to the service's database while `requests` queries want one at once."""
    url = make_url(database_url)
    admin = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    peak = 0

    async def query() -> None:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.3)"))

    try:
        load = asyncio.gather(*(query() for _ in range(requests)))
        while not load.done():
            peak = max(peak, await _backends(admin, str(url.database)))
            await asyncio.sleep(0.02)
        await load
    finally:
        await admin.close()
    return peak


@pytest.mark.parametrize(
    ("env", "budget"),
    [
        # 5 + 2 pooled, relay thread 1 + its LISTEN, the timer runner's LISTEN.
        ({}, 10),
        ({"CRM_QUEUE_DB_POOL_SIZE": "2", "CRM_QUEUE_DB_MAX_OVERFLOW": "0"}, 5),
    ],
    ids=["defaults", "configured"],
)
async def test_a_service_holds_at_most_its_budget_of_connections_under_load(
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    budget: int,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = CrmQueueSettings(database_url=database_url, common=common_settings)
    app = create_app(settings, topology=topology)
    async with LifespanManager(app, startup_timeout=60):
        runtime: Runtime = app.state.runtime
        await asyncio.sleep(1.0)  # the relay thread and the listeners connect
        peak = await _peak_under_load(runtime, database_url, requests=30)
    assert 0 < peak <= budget

"""A replica started while the broker is unreachable waits for it (retrying, with backoff, and
saying so) instead of exiting; once the broker answers it starts and is ready. The shared
startup (`shared.runtime.run_service`) does it, so every service inherits it: metrics stands in
for them here."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

import httpx
import pytest
from asgi_lifespan import LifespanManager

from metrics.config import MetricsSettings
from metrics.entrypoints.http.app import create_app
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.proxy import TcpProxy

pytestmark = pytest.mark.integration


async def test_a_replica_started_while_the_broker_is_down_waits_and_becomes_ready(
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    amqp_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = urlparse(amqp_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await proxy.start()
    await proxy.cut()  # the broker is unreachable before the replica starts
    proxied = common_settings.model_copy(
        update={"amqp_url": amqp_url.replace(f":{target.port}", f":{proxy.port}")}
    )
    app = create_app(MetricsSettings(database_url=database_url, common=proxied), topology=topology)
    caplog.set_level(logging.WARNING, logger="shared.runtime")
    manager = LifespanManager(app, startup_timeout=120)
    starting = asyncio.create_task(manager.__aenter__())
    try:
        # It tried, failed and said it will try again (it did not exit)...
        async with asyncio.timeout(60):
            while not any("broker unreachable" in r.getMessage() for r in caplog.records):
                assert not starting.done(), f"startup ended: {starting.exception()!r}"
                await asyncio.sleep(0.05)
        assert not starting.done()
        await proxy.restore()  # ...and the broker comes back
        await asyncio.wait_for(starting, 120)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            r = await client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"database": "ok", "broker": "ok"}
    finally:
        if starting.done() and not starting.cancelled() and starting.exception() is None:
            await manager.__aexit__(None, None, None)
        else:
            starting.cancel()
        await proxy.close()

"""A replica started while the broker or its database is unreachable waits for it (retrying,
with backoff, and saying so) instead of exiting; once it answers, the replica starts and is
ready. The shared startup (`shared.runtime.run_service`) does it, so every service inherits it:
metrics stands in for them here."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from aiormq.exceptions import ChannelNotFoundEntity
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from metrics.config import MetricsSettings
from metrics.entrypoints.http.app import create_app
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("down", ["broker", "database"])
async def test_a_replica_started_while_a_dependency_is_down_waits_and_becomes_ready(
    down: str,
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    amqp_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if down == "broker":
        target = urlparse(amqp_url)
        proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    else:
        db = make_url(database_url)
        proxy = TcpProxy(db.host or "127.0.0.1", db.port or 5432)
    await proxy.start()
    await proxy.cut()  # unreachable before the replica starts
    common, url = common_settings, database_url
    if down == "broker":
        common = common_settings.model_copy(
            update={"amqp_url": amqp_url.replace(f":{target.port}", f":{proxy.port}")}
        )
    else:
        url = db.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = create_app(MetricsSettings(database_url=url, common=common), topology=topology)
    caplog.set_level(logging.WARNING, logger="shared.runtime")
    manager = LifespanManager(app, startup_timeout=120)
    starting = asyncio.create_task(manager.__aenter__())
    try:
        # It tried, failed and said it will try again (it did not exit)...
        async with asyncio.timeout(60):
            while not any(f"{down} unreachable" in r.getMessage() for r in caplog.records):
                assert not starting.done(), f"startup ended: {starting.exception()!r}"
                await asyncio.sleep(0.05)
        assert not starting.done()
        await proxy.restore()  # ...and it comes back
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


async def test_a_replica_waits_for_a_queue_the_restarted_broker_has_not_brought_up_yet(
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Chaos: a metrics replica started while the node came back exited with code 3. A node
    that restarted takes connections before its quorum queues are up, and answers a declare of
    one with 404 "... due to timeout"; the replica waits for the queue, as for a broker down."""
    import shared.runtime

    declare = shared.runtime.declare_topology
    calls = 0

    async def declare_while_queues_come_up(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # what RabbitMQ 3.10 answered, on a channel it then closed
            raise ChannelNotFoundEntity(
                "NOT_FOUND - failed to perform operation on queue 'metrics.lead.ingested.v1' "
                "in vhost '/' due to timeout"
            )
        await declare(*args, **kwargs)

    monkeypatch.setattr(shared.runtime, "declare_topology", declare_while_queues_come_up)
    monkeypatch.setattr(shared.runtime, "outage_backoff", lambda _n: 0.05)
    caplog.set_level(logging.WARNING, logger="shared.runtime")
    app = create_app(
        MetricsSettings(database_url=database_url, common=common_settings), topology=topology
    )
    async with LifespanManager(app, startup_timeout=120) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            r = await client.get("/readyz")
        assert r.status_code == 200, r.text
    assert calls == 2
    assert any(
        "broker unreachable (ChannelNotFoundEntity" in r.getMessage() for r in caplog.records
    )

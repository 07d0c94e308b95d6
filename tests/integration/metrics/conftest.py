"""metrics running for real (migrations, broker, consumers) with a clock tests set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from metrics.config import MetricsSettings
from metrics.entrypoints.http.app import create_app
from shared.auth import issue_token
from shared.clock import FrozenClock
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from tests.integration.metrics.history import NOW, Message


@dataclass
class Metrics:
    app: FastAPI
    client: httpx.AsyncClient
    settings: CommonSettings
    exchange: aio_pika.abc.AbstractExchange
    published: set[Any]

    def staff(
        self, role: str = "admin", tenant: str = "acme", dealerships: tuple[str, ...] = ()
    ) -> dict[str, str]:
        token = issue_token(
            self.settings,
            subject="mia",
            role=role,  # type: ignore[arg-type]
            tenant=tenant,
            dealerships=dealerships,
        )
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, messages: Iterable[Message]) -> None:
        for m in messages:
            await self.exchange.publish(
                aio_pika.Message(
                    m.body(),
                    message_id=str(m.event_id),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=m.routing_key,
            )
            self.published.add(m.event_id)

    async def settled(self, within: float = 30.0) -> None:
        """Until every event published so far is in the inbox (projected and committed)."""
        engine = self.app.state.runtime.engine
        async with asyncio.timeout(within):
            while True:
                async with engine.connect() as conn:
                    n = (
                        await conn.execute(
                            text("SELECT count(*) FROM inbox_message WHERE consumer = 'metrics'")
                        )
                    ).scalar()
                if n == len(self.published):
                    return
                await asyncio.sleep(0.05)

    async def get(self, path: str, headers: dict[str, str] | None = None, **query: Any) -> Any:
        r = await self.client.get(path, params=query, headers=headers or self.staff())
        assert r.status_code == 200, (path, query, r.status_code, r.text)
        return r.json()

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.app.state.runtime.engine.connect() as conn:
            return list((await conn.execute(text(statement), params)).all())


@pytest.fixture
def running_metrics(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> Callable[..., AbstractAsyncContextManager[Metrics]]:
    @asynccontextmanager
    async def start(**kw: Any) -> AsyncIterator[Metrics]:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        app = create_app(
            MetricsSettings(database_url=database_url, common=common_settings, **kw),
            topology=topology,
            clock=FrozenClock(NOW),
        )
        try:
            async with LifespanManager(app, startup_timeout=60) as manager:
                exchange = await channel.get_exchange(topology.events_exchange_name)
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
                    yield Metrics(app, client, common_settings, exchange, set())
        finally:
            await connection.close()

    return start


@pytest.fixture
async def svc(
    running_metrics: Callable[..., AbstractAsyncContextManager[Metrics]],
) -> AsyncIterator[Metrics]:
    async with running_metrics() as running:
        yield running

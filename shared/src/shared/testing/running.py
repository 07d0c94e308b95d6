"""A service's app running for real in the test's process (its lifespan: migrations, broker,
relay, consumers) behind httpx, with a clock the test moves and a probe queue that sees every
event published on the run's exchange. The integration tests of every service build on it
(tests/integration/<service>/conftest.py): one fixture shape, written once.

Test-only (imports pytest's companions: asgi-lifespan, httpx's ASGI transport).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

import aio_pika
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from shared.auth import issue_token
from shared.clock import FrozenClock
from shared.messaging.topology import Topology
from shared.settings import CommonSettings


@dataclass
class Events:
    """Every event published on the run's exchange, as parsed JSON envelopes."""

    queue: aio_pika.abc.AbstractQueue
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def _pull(self) -> bool:
        message = await self.queue.get(fail=False, no_ack=True)
        if message is None:
            return False
        self.seen.append(json.loads(message.body))
        return True

    async def wait_for(
        self, event_type: str, n: int = 1, within: float = 15.0, **match: Any
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(within):
            while True:
                found = [
                    e
                    for e in self.seen
                    if e["event_type"] == event_type
                    and all(str(e.get(k)) == str(v) for k, v in match.items())
                ]
                if len(found) >= n:
                    return found
                if not await self._pull():
                    await asyncio.sleep(0.05)

    async def settle(self, quiet: float = 0.5) -> list[dict[str, Any]]:
        """Everything published, once nothing new arrived for `quiet` seconds."""
        while True:
            if not await self._pull():
                await asyncio.sleep(quiet)
                if not await self._pull():
                    return self.seen

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["event_type"] == event_type]


async def probe(
    amqp_url: str, topology: Topology
) -> tuple[aio_pika.abc.AbstractConnection, Events]:
    """A connection and a queue bound to every routing key of `topology`'s exchange."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        topology.events_exchange_name,
        aio_pika.ExchangeType.TOPIC,
        durable=True,
        arguments=topology.events_exchange().arguments,
    )
    queue = await channel.declare_queue(topology._seen(f"{topology.namespace}probe"), durable=True)
    await queue.bind(exchange, "#")
    return connection, Events(queue)


@dataclass
class RunningService:
    """The app, a client on it, its clock, the events it publishes, and the exchange to publish
    events to it. A service's subclass adds its helpers and its `staff` defaults."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: FrozenClock
    settings: CommonSettings
    events: Events
    exchange: aio_pika.abc.AbstractExchange

    # `staff()`'s defaults: who calls when a test does not say.
    default_role: ClassVar[str] = "agent"
    default_sub: ClassVar[str] = "agent-1"

    def staff(
        self,
        role: str | None = None,
        tenant: str = "acme",
        sub: str | None = None,
        dealerships: tuple[str, ...] = ("d1",),
    ) -> dict[str, str]:
        token = issue_token(
            self.settings,
            subject=sub or self.default_sub,
            role=(role or self.default_role),  # type: ignore[arg-type]
            tenant=tenant,
            dealerships=dealerships,
        )
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, envelope: Any) -> None:
        await self.exchange.publish(
            aio_pika.Message(
                envelope.to_json_bytes(),
                message_id=str(envelope.event_id),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=envelope.routing_key,
        )


S = TypeVar("S", bound=RunningService)


class AppFactory(Protocol):
    def __call__(self, settings: Any, *, topology: Topology, clock: FrozenClock) -> FastAPI: ...


def service_starter(
    kind: type[S],
    create_app: AppFactory,
    settings: Callable[..., Any],
    *,
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    amqp_url: str,
    start_at: datetime,
    base_url: str,
) -> Callable[..., AbstractAsyncContextManager[S]]:
    """What a service's `running_<service>` fixture returns: `start(clock=None, common=None,
    **settings)` runs the app (built by `create_app(settings(database_url, common, **kw))`) for
    the `async with` block, on a `FrozenClock` at `start_at` unless `clock` is given."""

    @asynccontextmanager
    async def start(
        clock: FrozenClock | None = None, common: CommonSettings | None = None, **kw: Any
    ) -> AsyncIterator[S]:
        clock = clock or FrozenClock(start_at)
        common = common or common_settings
        connection, events = await probe(amqp_url, topology)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(topology.events_exchange_name)
            app = create_app(settings(database_url, common, **kw), topology=topology, clock=clock)
            async with LifespanManager(app, startup_timeout=60) as manager:
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                    yield kind(app, client, clock, common, events, exchange)
        finally:
            await connection.close()

    return start

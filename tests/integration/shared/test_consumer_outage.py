"""A database outage under a consumer delays its work and costs no message a delivery."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from faststream.rabbit.annotations import RabbitMessage
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine, session_factory
from shared.messaging.broker import create_broker
from shared.messaging.consumer import subscribe
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.proxy import TcpProxy
from shared.uow import UnitOfWork
from tests.integration.shared.helpers import collect, create_messaging_tables

pytestmark = pytest.mark.integration

RETRY_BACKOFF = 0.05  # between redeliveries of a failing message, were it nacked


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def engine(database_url: str, proxy: TcpProxy) -> AsyncIterator[AsyncEngine]:
    """The consumer's database, reached through the proxy the test cuts."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    engine = create_engine(url.render_as_string(hide_password=False))
    await create_messaging_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE handled (event_id uuid PRIMARY KEY)"))
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM handled"))).scalar_one())


async def _wait_for_count(engine: AsyncEngine, n: int, within: float = 60) -> None:
    async with asyncio.timeout(within):
        while True:
            try:
                if await _count(engine) >= n:
                    return
            except Exception:  # noqa: S110 (the database may still be coming back)
                pass
            await asyncio.sleep(0.1)


async def test_a_database_outage_pauses_the_consumer_and_dead_letters_nothing(
    engine: AsyncEngine,
    proxy: TcpProxy,
    amqp_url: str,
    common_settings: CommonSettings,
    topology: Topology,
) -> None:
    sessions = session_factory(engine)
    # Per message: (x-delivery-count, redelivered) of each try (parse runs on every try).
    seen: dict[str, set[tuple[int, bool]]] = {}

    def parse(body: bytes, message: RabbitMessage) -> uuid.UUID:
        raw = message.raw_message
        count = (raw.headers or {}).get("x-delivery-count", 0)
        seen.setdefault(str(raw.message_id), set()).add((count, bool(raw.redelivered)))
        return uuid.UUID(json.loads(body)["event_id"])

    async def handle(event_id: uuid.UUID) -> None:
        async with UnitOfWork(sessions) as uow:
            if await uow.claim("tester", event_id):
                await uow.session.execute(text("INSERT INTO handled VALUES (:e)"), {"e": event_id})
            await uow.commit()

    # A backlog bigger than what the consumer holds (prefetch).
    settings = common_settings.model_copy(update={"prefetch": 10})
    broker = create_broker(settings, app_id="test")
    queue = topology.consumer_queue("tester", "thing.happened.v1")
    subscribe(
        broker,
        broker,
        topology,
        queue,
        parse=parse,
        handle=handle,
        exchange=topology.events_exchange(),
        retry_backoff=lambda _n: RETRY_BACKOFF,
        outage_backoff=lambda _n: 0.2,
    )
    await broker.connect()
    await declare_topology(broker, topology, [queue.name])
    await broker.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.events_exchange_name)

        async def publish(n: int) -> None:
            for _ in range(n):
                body = json.dumps({"event_id": str(uuid.uuid4())}).encode()
                await exchange.publish(
                    aio_pika.Message(body, message_id=str(uuid.uuid4())),
                    routing_key="thing.happened.v1",
                )

        await publish(5)  # handled while the database is up: the pool holds live connections
        await _wait_for_count(engine, 5, within=20)

        await proxy.cut()  # the database goes down
        await publish(30)
        # Down far longer than the delivery limit would last with redeliveries:
        # (5 + 1) deliveries x 0.05 s backoff = 0.3 s.
        down_for = 10 * (topology.delivery_limit + 1) * RETRY_BACKOFF
        await asyncio.sleep(down_for)
        dlq = await channel.declare_queue(topology.dead_letter_queue_name(queue.name), passive=True)
        assert dlq.declaration_result.message_count == 0
        await proxy.restore()  # and comes back: the consumer resumes by itself

        await _wait_for_count(engine, 35)
        await asyncio.sleep(0.5)  # anything still arriving would be a duplicate or a redelivery
        assert await _count(engine) == 35
        dlq = await channel.declare_queue(topology.dead_letter_queue_name(queue.name), passive=True)
        assert dlq.declaration_result.message_count == 0
        source = await channel.declare_queue(queue.name, passive=True)
        assert source.declaration_result.message_count == 0
        # Each message was delivered once: the outage never sent one back to the queue.
        assert len(seen) == 35
        assert {try_ for tries in seen.values() for try_ in tries} == {(0, False)}
    finally:
        await broker.stop()
        await connection.close()


async def test_values_the_database_refuses_are_dead_lettered_at_once_an_outage_never(
    engine: AsyncEngine,
    proxy: TcpProxy,
    amqp_url: str,
    common_settings: CommonSettings,
    topology: Topology,
) -> None:
    """A NUL in a text (refused by PostgreSQL) and an integer past bigint (refused by asyncpg
    before sending it) fail on every delivery: dead-lettered on their first, with the driver's
    reason. Handled during an outage, the
    same messages wait with the others and are dead-lettered only once the database answers:
    an outage is never taken for poison."""
    sessions = session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE noted (event_id uuid PRIMARY KEY, note text, n bigint)")
        )
    tries: dict[str, list[int]] = {}  # per message: the x-delivery-count of each try

    def parse(body: bytes, message: RabbitMessage) -> dict[str, object]:
        raw = message.raw_message
        tries.setdefault(str(raw.message_id), []).append(
            (raw.headers or {}).get("x-delivery-count", 0)
        )
        data: dict[str, object] = json.loads(body)
        return data

    async def handle(data: dict[str, object]) -> None:
        async with UnitOfWork(sessions) as uow:
            await uow.session.execute(
                text("INSERT INTO noted VALUES (:e, :note, :n)"),
                {"e": uuid.UUID(str(data["event_id"])), "note": data["note"], "n": data["n"]},
            )
            await uow.commit()

    broker = create_broker(common_settings, app_id="test")
    queue = topology.consumer_queue("tester", "thing.happened.v1")
    subscribe(
        broker,
        broker,
        topology,
        queue,
        parse=parse,
        handle=handle,
        exchange=topology.events_exchange(),
        retry_backoff=lambda _n: RETRY_BACKOFF,
        outage_backoff=lambda _n: 0.2,
    )
    await broker.connect()
    await declare_topology(broker, topology, [queue.name])
    await broker.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.events_exchange_name)
        dlq = await channel.get_queue(topology.dead_letter_queue_name(queue.name))

        async def publish(message_id: str, note: str, n: int) -> None:
            body = json.dumps({"event_id": str(uuid.uuid4()), "note": note, "n": n}).encode()
            await exchange.publish(
                aio_pika.Message(body, message_id=message_id), routing_key="thing.happened.v1"
            )

        async def noted() -> int:
            async with engine.connect() as conn:
                return int((await conn.execute(text("SELECT count(*) FROM noted"))).scalar_one())

        await publish("nul", "Ann\x00", 1)
        await publish("overflow", "Ann", 10**30)
        await publish("good", "Ann", 1)
        dead = {m.message_id: m for m in await collect(dlq, 2)}
        assert set(dead) == {"nul", "overflow"}
        # Each poison message was tried once, on its first delivery: none went back to the queue.
        assert tries["nul"] == [0] and tries["overflow"] == [0]
        assert "0x00" in str(dead["nul"].headers["x-forecourt-error"])
        assert "int64" in str(dead["overflow"].headers["x-forecourt-error"])
        # The driver's reason alone: not the statement, nor its parameters (the person's data).
        assert not any("INSERT" in str(m.headers["x-forecourt-error"]) for m in dead.values())
        async with asyncio.timeout(20):
            while await noted() < 1:
                await asyncio.sleep(0.05)

        await proxy.cut()  # the database goes down: the same kinds of message now wait
        await publish("nul-in-outage", "Bob\x00", 2)
        await publish("good-in-outage", "Bob", 2)
        # Down far longer than the delivery limit lasts with redeliveries (0.3 s).
        await asyncio.sleep(10 * (topology.delivery_limit + 1) * RETRY_BACKOFF)
        declared = await channel.declare_queue(dlq.name, passive=True)
        assert declared.declaration_result.message_count == 0
        await proxy.restore()

        [late] = await collect(dlq, 1)
        assert late.message_id == "nul-in-outage"
        async with asyncio.timeout(20):
            while await noted() < 2:
                await asyncio.sleep(0.05)
        # Never nacked, however many times the outage made them try.
        assert set(tries["nul-in-outage"]) == {0} and set(tries["good-in-outage"]) == {0}
        source = await channel.declare_queue(queue.name, passive=True)
        assert source.declaration_result.message_count == 0
    finally:
        await broker.stop()
        await connection.close()

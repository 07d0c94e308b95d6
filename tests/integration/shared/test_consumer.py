"""Subscribers built with shared.messaging.consumer against a real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import generate_api_key
from shared.db import create_engine, session_factory
from shared.messaging.broker import create_broker
from shared.messaging.consumer import PoisonMessage, subscribe
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.uow import UnitOfWork
from tests.integration.shared.helpers import collect, create_messaging_tables

pytestmark = pytest.mark.integration


def _parse(body: bytes, _message: RabbitMessage) -> dict[str, object]:
    data = json.loads(body)  # invalid JSON raises ValueError: a poison message
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


@pytest.fixture
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(amqp_url)
    yield await connection.channel()
    await connection.close()


async def _start(
    settings: CommonSettings, topology: Topology, handle, routing_key: str = "thing.happened.v1"
) -> tuple[RabbitBroker, str]:
    broker = create_broker(settings, app_id="test")
    queue = topology.consumer_queue("tester", routing_key)
    subscribe(
        broker,
        broker,
        topology,
        queue,
        parse=_parse,
        handle=handle,
        exchange=topology.events_exchange(),
        retry_backoff=lambda _n: 0.05,
        outage_backoff=lambda _n: 0.05,
    )
    await broker.connect()
    await declare_topology(broker, topology, [queue.name])
    await broker.start()
    return broker, queue.name


async def _publish(
    channel: aio_pika.abc.AbstractChannel, topology: Topology, body: bytes, message_id: str
) -> None:
    exchange = await channel.get_exchange(topology.events_exchange_name)
    await exchange.publish(
        aio_pika.Message(body, message_id=message_id), routing_key="thing.happened.v1"
    )


async def test_poison_message_is_dead_lettered_with_its_reason_not_looped(
    common_settings: CommonSettings, topology: Topology, channel: aio_pika.abc.AbstractChannel
) -> None:
    calls: list[object] = []

    async def handle(data: dict[str, object]) -> None:
        calls.append(data)

    broker, queue_name = await _start(common_settings, topology, handle)
    await _publish(channel, topology, b"{this is not json", "poison-1")
    dlq = await channel.get_queue(topology.dead_letter_queue_name(queue_name))
    [dead] = await collect(dlq, 1)
    assert dead.message_id == "poison-1"
    assert dead.body == b"{this is not json"
    assert dead.headers["x-forecourt-error-type"] == "JSONDecodeError"
    assert "Expecting" in str(dead.headers["x-forecourt-error"])
    assert dead.headers["x-forecourt-queue"] == queue_name
    assert calls == []
    await broker.stop()
    source = await channel.declare_queue(queue_name, passive=True)
    assert source.declaration_result.message_count == 0


async def test_handler_refusing_a_message_dead_letters_it(
    common_settings: CommonSettings, topology: Topology, channel: aio_pika.abc.AbstractChannel
) -> None:
    async def handle(data: dict[str, object]) -> None:
        raise PoisonMessage(f"no such tenant {data['tenant']}")

    broker, queue_name = await _start(common_settings, topology, handle)
    await _publish(channel, topology, b'{"tenant": "ghost"}', "refused-1")
    dlq = await channel.get_queue(topology.dead_letter_queue_name(queue_name))
    [dead] = await collect(dlq, 1)
    assert dead.headers["x-forecourt-error"] == "no such tenant ghost"
    await broker.stop()


async def test_an_outage_is_waited_out_in_process_not_redelivered(
    common_settings: CommonSettings, topology: Topology, channel: aio_pika.abc.AbstractChannel
) -> None:
    attempts = Counter[str]()
    done = asyncio.Event()
    deliveries: list[object] = []

    def parse(body: bytes, message: RabbitMessage) -> dict[str, object]:
        deliveries.append((message.raw_message.headers or {}).get("x-delivery-count"))
        return _parse(body, message)

    async def handle(data: dict[str, object]) -> None:
        attempts["n"] += 1
        if attempts["n"] < 8:  # more tries than the delivery limit (5) allows deliveries
            raise ConnectionRefusedError("database restarting")
        done.set()

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
        outage_backoff=lambda _n: 0.05,
    )
    await broker.connect()
    await declare_topology(broker, topology, [queue.name])
    await broker.start()
    await _publish(channel, topology, b'{"x": 1}', "flaky-1")
    await asyncio.wait_for(done.wait(), 20)
    await asyncio.sleep(0.3)
    assert attempts["n"] == 8
    assert deliveries == [None] * 8  # one delivery, tried 8 times: never nacked
    await broker.stop()
    dlq = await channel.declare_queue(topology.dead_letter_queue_name(queue.name), passive=True)
    assert dlq.declaration_result.message_count == 0


async def test_a_failure_of_its_own_is_redelivered_until_it_succeeds(
    common_settings: CommonSettings, topology: Topology, channel: aio_pika.abc.AbstractChannel
) -> None:
    attempts = Counter[str]()
    done = asyncio.Event()

    async def handle(data: dict[str, object]) -> None:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise RuntimeError("flaky handler")
        done.set()

    broker, queue_name = await _start(common_settings, topology, handle)
    await _publish(channel, topology, b'{"x": 1}', "flaky-1")
    await asyncio.wait_for(done.wait(), 20)
    await asyncio.sleep(0.3)
    assert attempts["n"] == 3
    await broker.stop()
    dlq = await channel.declare_queue(topology.dead_letter_queue_name(queue_name), passive=True)
    assert dlq.declaration_result.message_count == 0


async def test_endless_failure_of_its_own_is_dead_lettered_with_the_error_at_the_limit(
    common_settings: CommonSettings, topology: Topology, channel: aio_pika.abc.AbstractChannel
) -> None:
    attempts = Counter[str]()

    async def handle(data: dict[str, object]) -> None:
        attempts["n"] += 1
        raise RuntimeError(f"bug on attempt {attempts['n']}")

    broker, queue_name = await _start(common_settings, topology, handle)
    await _publish(channel, topology, b'{"x": 1}', "doomed-1")
    dlq = await channel.get_queue(topology.dead_letter_queue_name(queue_name))
    [dead] = await collect(dlq, 1, within=30)
    assert dead.message_id == "doomed-1"
    assert dead.headers["x-forecourt-error"] == f"bug on attempt {topology.delivery_limit}"
    assert dead.headers["x-forecourt-error-type"] == "RuntimeError"
    assert attempts["n"] == topology.delivery_limit
    await broker.stop()
    source = await channel.declare_queue(queue_name, passive=True)
    assert source.declaration_result.message_count == 0


async def test_inbox_makes_a_redelivered_event_a_no_op(
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    engine: AsyncEngine = create_engine(database_url)
    await create_messaging_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (event_id uuid, n int)"))
    sessions = session_factory(engine)
    seen = asyncio.Queue[str]()

    async def handle(data: dict[str, object]) -> None:
        event_id = uuid.UUID(str(data["event_id"]))
        async with UnitOfWork(sessions) as uow:
            if await uow.claim("tester", event_id):
                await uow.session.execute(
                    text("INSERT INTO counter VALUES (:e, 1)"), {"e": event_id}
                )
            await uow.commit()
        await seen.put(str(event_id))

    broker, _ = await _start(common_settings, topology, handle)
    event_id = str(uuid.uuid4())
    for _ in range(3):  # the same event delivered three times
        await _publish(channel, topology, json.dumps({"event_id": event_id}).encode(), event_id)
    for _ in range(3):
        assert await asyncio.wait_for(seen.get(), 10) == event_id
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM counter"))).scalar_one()
    assert count == 1
    await broker.stop()
    await engine.dispose()


async def test_a_dead_letter_carries_no_secret_header(
    common_settings: CommonSettings, topology: Topology, channel: aio_pika.abc.AbstractChannel
) -> None:
    key = generate_api_key()

    async def handle(data: dict[str, object]) -> None:
        raise PoisonMessage("unreadable lead")

    broker, queue_name = await _start(common_settings, topology, handle)
    exchange = await channel.get_exchange(topology.events_exchange_name)
    headers: dict[str, object] = {
        "x-api-key": key.key,
        "Authorization": "Bearer eyJhbGciOi.secret.token",
        "x-session-token": "s3cr3t",
        "tenant_id": "acme",
    }
    await exchange.publish(
        aio_pika.Message(b'{"x": 1}', message_id="secret-1", headers=headers),  # type: ignore[arg-type]
        routing_key="thing.happened.v1",
    )
    dlq = await channel.get_queue(topology.dead_letter_queue_name(queue_name))
    [dead] = await collect(dlq, 1)
    await broker.stop()
    assert dead.headers["x-forecourt-error"] == "unreadable lead"
    assert dead.headers["tenant_id"] == "acme"  # other headers stay
    assert not {"x-api-key", "Authorization", "x-session-token"} & set(dead.headers)
    redacted = str(dead.headers["x-forecourt-redacted"])
    assert f"x-api-key=fck_{key.prefix}_…" in redacted  # the source, not the secret
    assert "Authorization=Bearer …" in redacted
    assert key.key.rsplit("_", 1)[1] not in repr(dead.headers)
    assert "eyJhbGciOi" not in repr(dead.headers)
    assert "s3cr3t" not in repr(dead.headers)


async def test_a_message_its_consumers_died_holding_is_dead_lettered_on_arrival_without_secrets(
    amqp_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    """One more such delivery and the broker would dead-letter it itself, keeping every
    header as it is (x-api-key included): the consumer does it first, and cleanly."""
    calls: list[object] = []

    async def handle(data: dict[str, object]) -> None:
        calls.append(data)

    key = generate_api_key()
    broker, queue_name = await _start(common_settings, topology, handle)
    await broker.stop()  # declared; now consumers that die holding the message
    exchange = await channel.get_exchange(topology.events_exchange_name)
    await exchange.publish(
        aio_pika.Message(b'{"x": 1}', message_id="crashy-1", headers={"x-api-key": key.key}),
        routing_key="thing.happened.v1",
    )
    for _ in range(topology.delivery_limit):
        connection = await aio_pika.connect(amqp_url)
        dying = await connection.channel()
        queue = await dying.get_queue(queue_name)
        async with asyncio.timeout(10):
            while await queue.get(fail=False) is None:  # taken, never settled
                await asyncio.sleep(0.05)
        await connection.close()  # the consumer "dies": the broker takes it back, counted

    broker, _ = await _start(common_settings, topology, handle)
    dlq = await channel.get_queue(topology.dead_letter_queue_name(queue_name))
    [dead] = await collect(dlq, 1)
    await broker.stop()
    assert calls == []
    assert dead.message_id == "crashy-1"
    assert dead.headers["x-forecourt-error-type"] == "NoOutcome"
    assert "x-api-key" not in dead.headers
    assert "x-first-death-reason" not in dead.headers  # ours, not the broker's

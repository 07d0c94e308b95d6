"""A busy database pool is not an outage: consumers run no more handlers than the pool serves.

Found by bench/assignment: with a backlog, ~200 handlers (prefetch x subscribers) queued for a
pool of 7 connections, timed out in the pool, and the consumer paused as if the database were
down, crawling at ~3 messages/s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import aio_pika
import pytest
from faststream.rabbit.annotations import RabbitMessage
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine, session_factory
from shared.messaging.broker import create_broker
from shared.messaging.consumer import subscribe
from shared.messaging.declare import declare_topology
from shared.messaging.slots import limit_handlers
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.uow import UnitOfWork
from tests.integration.shared.helpers import create_messaging_tables

pytestmark = pytest.mark.integration

PER_QUEUE = 10
ROUTING_KEYS = ("thing.happened.v1", "other.happened.v1")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A pool of one connection that gives up on a waiting caller at once."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    await create_messaging_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE handled (event_id uuid PRIMARY KEY)"))
    yield engine
    await engine.dispose()


async def _count(database_url: str) -> int:
    """On a connection of its own: the consumer's pool has one, for the consumer."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM handled"))).scalar_one())
    finally:
        await engine.dispose()


async def test_a_backlog_on_a_pool_of_one_is_handled_without_outage_or_retry(
    engine: AsyncEngine,
    database_url: str,
    amqp_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    sessions = session_factory(engine)
    tries: Counter[tuple[str, int]] = Counter()  # (message id, x-delivery-count) of each try
    running = 0
    most_at_once = 0

    def parse(body: bytes, message: RabbitMessage) -> uuid.UUID:
        raw = message.raw_message
        tries[(str(raw.message_id), (raw.headers or {}).get("x-delivery-count", 0))] += 1
        return uuid.UUID(json.loads(body)["event_id"])

    async def handle(event_id: uuid.UUID) -> None:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        try:
            async with UnitOfWork(sessions) as uow:
                if await uow.claim("tester", event_id):
                    await uow.session.execute(
                        text("INSERT INTO handled VALUES (:e)"), {"e": event_id}
                    )
                # Hold the connection longer than a waiting caller may wait for it.
                await uow.session.execute(text("SELECT pg_sleep(0.1)"))
                await uow.commit()
        finally:
            running -= 1

    # Two subscribers, each holding its whole backlog at once: 20 deliveries, one connection.
    broker = create_broker(common_settings.model_copy(update={"prefetch": PER_QUEUE}), app_id="t")
    limit_handlers(broker, 1)  # what run_service does with the pool's size
    queues = [topology.consumer_queue("tester", key) for key in ROUTING_KEYS]
    for queue in queues:
        subscribe(
            broker,
            broker,
            topology,
            queue,
            parse=parse,
            handle=handle,
            exchange=topology.events_exchange(),
            retry_backoff=lambda _n: 0.05,
            outage_backoff=lambda _n: 0.05,
        )
    await broker.connect()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await declare_topology(broker, topology, [q.name for q in queues])
        exchange = await channel.get_exchange(topology.events_exchange_name)
        # The backlog waits in the queues before the consumer starts.
        for queue, key in zip(queues, ROUTING_KEYS, strict=True):
            bound = await broker.declare_queue(queue)
            await bound.bind(topology.events_exchange_name, routing_key=key)
            for _ in range(PER_QUEUE):
                body = json.dumps({"event_id": str(uuid.uuid4())}).encode()
                await exchange.publish(
                    aio_pika.Message(body, message_id=str(uuid.uuid4())), routing_key=key
                )
        await broker.start()
        async with asyncio.timeout(60):
            while await _count(database_url) < 2 * PER_QUEUE:
                await asyncio.sleep(0.1)
        await broker.stop()

        assert most_at_once == 1
        # Each message tried once, on its first delivery: no pool timeout, no nack, no pause.
        assert sorted(tries.values()) == [1] * (2 * PER_QUEUE)
        assert {count for _, count in tries} == {0}
        assert not [r for r in caplog.records if "paused" in r.getMessage()]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        for queue in queues:
            dlq = await channel.declare_queue(
                topology.dead_letter_queue_name(queue.name), passive=True
            )
            assert dlq.declaration_result.message_count == 0
    finally:
        await broker.stop()
        await connection.close()


async def test_a_handler_that_needs_no_slot_runs_beside_the_others(
    amqp_url: str, common_settings: CommonSettings, topology: Topology
) -> None:
    """Intake's raw leads wait on its batcher, which bounds the database work itself: held
    deliveries all reach it at once, however few slots the pool gives."""
    held = 6
    together = asyncio.Event()
    running = 0

    async def handle(_body: bytes) -> None:
        nonlocal running
        running += 1
        if running == held:
            together.set()
        await together.wait()  # with one slot the first would wait here for ever

    broker = create_broker(common_settings.model_copy(update={"prefetch": held}), app_id="t")
    limit_handlers(broker, 1)
    queue = topology.consumer_queue("tester", ROUTING_KEYS[0])
    subscribe(
        broker,
        broker,
        topology,
        queue,
        parse=lambda body, _m: body,
        handle=handle,
        exchange=topology.events_exchange(),
        needs_slot=lambda: False,
    )
    await broker.connect()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await declare_topology(broker, topology, [queue.name])
        bound = await broker.declare_queue(queue)
        await bound.bind(topology.events_exchange_name, routing_key=ROUTING_KEYS[0])
        exchange = await channel.get_exchange(topology.events_exchange_name)
        for _ in range(held):
            await exchange.publish(aio_pika.Message(b"{}"), routing_key=ROUTING_KEYS[0])
        await broker.start()
        async with asyncio.timeout(30):
            await together.wait()
    finally:
        await broker.stop()
        await connection.close()
    assert running == held

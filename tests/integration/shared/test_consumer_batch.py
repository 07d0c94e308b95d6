"""subscribe_batch against real RabbitMQ and PostgreSQL: one call and one transaction for the
deliveries at hand, one bad event never sinks its batch, redeliveries are no-ops."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine, session_factory
from shared.messaging.batch import subscribe_batch
from shared.messaging.broker import create_broker
from shared.messaging.consumer import PoisonMessage
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.proxy import TcpProxy
from shared.uow import UnitOfWork
from tests.integration.shared.helpers import collect, create_messaging_tables

pytestmark = pytest.mark.integration

ROUTING_KEY = "thing.happened.v1"


@dataclass(frozen=True)
class Event:
    event_id: uuid.UUID
    poison: bool = False
    bug: bool = False


def _parse(body: bytes, _message: RabbitMessage) -> Event:
    data = json.loads(body)  # not JSON: ValueError, dead-lettered before any batch
    return Event(uuid.UUID(data["event_id"]), bool(data.get("poison")), bool(data.get("bug")))


@pytest.fixture
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(amqp_url)
    yield await connection.channel()
    await connection.close()


async def _engine(url: str) -> AsyncEngine:
    engine = create_engine(url)
    await create_messaging_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS handled (event_id uuid PRIMARY KEY)"))
    return engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await _engine(database_url)
    yield engine
    await engine.dispose()


def _handler(
    engine: AsyncEngine, calls: list[list[Event]]
) -> Callable[[list[Event]], Awaitable[None]]:
    """A batch handler as the docstring asks: one transaction, an inbox claim per event."""
    sessions = session_factory(engine)

    async def handle(events: list[Event]) -> None:
        calls.append(events)
        async with UnitOfWork(sessions) as uow:
            for event in events:
                if not await uow.claim("tester", event.event_id):
                    continue  # redelivered, or twice in this batch
                if event.poison:
                    raise PoisonMessage(f"event {event.event_id} names no known tenant")
                if event.bug:
                    raise RuntimeError(f"bug handling {event.event_id}")
                await uow.session.execute(
                    text("INSERT INTO handled VALUES (:e)"), {"e": event.event_id}
                )
            await uow.commit()

    return handle


async def _start(
    settings: CommonSettings,
    topology: Topology,
    handle: Callable[[list[Event]], Awaitable[None]],
    *,
    max_batch: int,
    max_wait: float = 10.0,
) -> tuple[RabbitBroker, str]:
    broker = create_broker(settings, app_id="test")
    queue = topology.consumer_queue("tester", ROUTING_KEY)
    subscribe_batch(
        broker,
        broker,
        topology,
        queue,
        parse=_parse,
        handle=handle,
        exchange=topology.events_exchange(),
        max_batch=max_batch,
        max_wait=max_wait,
        retry_backoff=lambda _n: 0.05,
        outage_backoff=lambda _n: 0.2,
    )
    await broker.connect()
    await declare_topology(broker, topology, [queue.name])
    await broker.start()
    return broker, queue.name


async def _publish(
    channel: aio_pika.abc.AbstractChannel, topology: Topology, *bodies: bytes
) -> None:
    exchange = await channel.get_exchange(topology.events_exchange_name)
    for body in bodies:
        await exchange.publish(
            aio_pika.Message(body, message_id=str(uuid.uuid4())), routing_key=ROUTING_KEY
        )


def _body(event_id: uuid.UUID | None = None, **extra: object) -> bytes:
    return json.dumps({"event_id": str(event_id or uuid.uuid4()), **extra}).encode()


async def _handled(engine: AsyncEngine) -> set[uuid.UUID]:
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT event_id FROM handled"))).scalars())


async def _wait_handled(engine: AsyncEngine, n: int, within: float = 30) -> set[uuid.UUID]:
    async with asyncio.timeout(within):
        while len(done := await _handled(engine)) < n:
            await asyncio.sleep(0.05)
    return done


async def _queue_count(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return int(queue.declaration_result.message_count or 0)


async def test_messages_at_hand_are_handled_in_one_call(
    engine: AsyncEngine,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    calls: list[list[Event]] = []
    # Declared first, consumed later: the ten wait in the queue, the broker pushes them together.
    broker, queue_name = await _start(
        common_settings, topology, _handler(engine, calls), max_batch=10
    )
    await broker.stop()
    ids = [uuid.uuid4() for _ in range(10)]
    await _publish(channel, topology, *(_body(i) for i in ids))
    broker, _ = await _start(common_settings, topology, _handler(engine, calls), max_batch=10)
    assert await _wait_handled(engine, 10) == set(ids)
    await asyncio.sleep(0.3)  # acks reach the broker
    await broker.stop()
    assert [sorted(e.event_id for e in call) for call in calls] == [sorted(ids)]
    assert await _queue_count(channel, queue_name) == 0  # every one acked


async def test_a_poison_message_is_dead_lettered_alone_and_its_batch_handled(
    engine: AsyncEngine,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    calls: list[list[Event]] = []
    broker, queue_name = await _start(
        common_settings, topology, _handler(engine, calls), max_batch=5
    )
    await broker.stop()
    good = [uuid.uuid4() for _ in range(4)]
    bad = uuid.uuid4()
    bodies = [_body(i) for i in good[:2]] + [_body(bad, poison=True)] + [_body(i) for i in good[2:]]
    await _publish(channel, topology, *bodies, b"{not json")
    broker, _ = await _start(common_settings, topology, _handler(engine, calls), max_batch=5)
    dlq = await channel.get_queue(topology.dead_letter_queue_name(queue_name))
    dead = await collect(dlq, 2)
    assert await _wait_handled(engine, 4) == set(good)
    await asyncio.sleep(0.3)
    await broker.stop()
    reasons = sorted(str(m.headers["x-forecourt-error"]) for m in dead)
    assert reasons[0].startswith("Expecting")  # the unreadable one, never in a batch
    assert reasons[1] == f"event {bad} names no known tenant"
    # The batch of five failed as a whole (rolled back), then each went alone.
    assert len(calls[0]) == 5
    assert sorted(len(call) for call in calls[1:]) == [1] * 5
    assert await _queue_count(channel, queue_name) == 0
    assert await _queue_count(channel, dlq.name) == 0  # collected: exactly two dead letters


async def test_an_event_failing_on_its_own_is_retried_alone_and_dead_lettered_at_the_limit(
    engine: AsyncEngine,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    calls: list[list[Event]] = []
    broker, queue_name = await _start(
        common_settings, topology, _handler(engine, calls), max_batch=4, max_wait=0.005
    )
    good = [uuid.uuid4() for _ in range(3)]
    bad = uuid.uuid4()
    await _publish(channel, topology, *(_body(i) for i in good), _body(bad, bug=True))
    dlq = await channel.get_queue(topology.dead_letter_queue_name(queue_name))
    [dead] = await collect(dlq, 1, within=30)
    await broker.stop()
    assert dead.headers["x-forecourt-error"] == f"bug handling {bad}"
    assert await _handled(engine) == set(good)
    # Tried on each of its deliveries (the limit), never again after its dead letter.
    assert (
        sum(1 for call in calls if [e.event_id for e in call] == [bad]) == topology.delivery_limit
    )
    assert await _queue_count(channel, queue_name) == 0


async def test_a_redelivered_or_repeated_event_is_handled_once(
    engine: AsyncEngine,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    calls: list[list[Event]] = []
    broker, queue_name = await _start(
        common_settings, topology, _handler(engine, calls), max_batch=4
    )
    await broker.stop()
    a, b = uuid.uuid4(), uuid.uuid4()
    await _publish(channel, topology, _body(a), _body(a), _body(b), _body(a))  # one batch, A x3
    broker, _ = await _start(common_settings, topology, _handler(engine, calls), max_batch=4)
    assert await _wait_handled(engine, 2) == {a, b}
    # A once more, later (as a redelivery would), in a batch with three new events.
    later = [uuid.uuid4() for _ in range(3)]
    await _publish(channel, topology, _body(a), *(_body(i) for i in later))
    assert await _wait_handled(engine, 5) == {a, b, *later}
    await asyncio.sleep(0.3)
    await broker.stop()
    assert [len(call) for call in calls] == [4, 4]
    assert await _handled(engine) == {a, b, *later}
    assert await _queue_count(channel, queue_name) == 0
    assert await _queue_count(channel, topology.dead_letter_queue_name(queue_name)) == 0


async def test_a_database_outage_pauses_batches_and_dead_letters_nothing(
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    engine = await _engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    direct = create_engine(database_url)
    calls: list[list[Event]] = []
    redelivered: list[str] = []

    def parse(body: bytes, message: RabbitMessage) -> Event:
        if message.raw_message.redelivered or (message.raw_message.headers or {}).get(
            "x-delivery-count"
        ):
            redelivered.append(str(message.message_id))
        return _parse(body, message)

    broker = create_broker(common_settings.model_copy(update={"prefetch": 10}), app_id="test")
    queue = topology.consumer_queue("tester", ROUTING_KEY)
    subscribe_batch(
        broker,
        broker,
        topology,
        queue,
        parse=parse,
        handle=_handler(engine, calls),
        exchange=topology.events_exchange(),
        max_batch=5,
        retry_backoff=lambda _n: 0.05,
        outage_backoff=lambda _n: 0.2,
    )
    await broker.connect()
    await declare_topology(broker, topology, [queue.name])
    await broker.start()
    try:
        await _publish(channel, topology, *(_body() for _ in range(5)))
        await _wait_handled(direct, 5)
        await proxy.cut()
        await _publish(channel, topology, *(_body() for _ in range(30)))
        # Far longer than (delivery limit 5 + 1) x 0.05 s of redeliveries would last.
        await asyncio.sleep(3.0)
        assert await _queue_count(channel, topology.dead_letter_queue_name(queue.name)) == 0
        await proxy.restore()
        await _wait_handled(direct, 35, within=60)
        await asyncio.sleep(0.5)
        assert len(await _handled(direct)) == 35
        assert await _queue_count(channel, topology.dead_letter_queue_name(queue.name)) == 0
        assert await _queue_count(channel, queue.name) == 0
        assert redelivered == []
        assert all(len(call) <= 5 for call in calls)
    finally:
        await broker.stop()
        await engine.dispose()
        await direct.dispose()
        await proxy.close()

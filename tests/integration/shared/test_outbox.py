"""The outbox relay against real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import aio_pika
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine, session_factory
from shared.messaging.broker import create_broker
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Topology
from shared.outbox import OutboxRelay
from shared.relay_process import RelayProcess
from shared.settings import CommonSettings
from shared.testing.proxy import TcpProxy
from shared.uow import UnitOfWork
from tests.integration.shared.helpers import SampleEvent, collect, create_messaging_tables

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await create_messaging_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def events_queue(
    amqp_url: str, topology: Topology
) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A plain queue bound to every event, as an outside subscriber would have."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        topology.events_exchange_name,
        aio_pika.ExchangeType.TOPIC,
        durable=True,
        arguments=topology.events_exchange().arguments,
    )
    queue = await channel.declare_queue(f"{topology.namespace}probe", durable=True)
    await queue.bind(exchange, "#")
    yield queue
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()


async def _emit(engine: AsyncEngine, events: list[SampleEvent], *, commit: bool = True) -> None:
    async with UnitOfWork(session_factory(engine)) as uow:
        for event in events:
            uow.emit(event)
        if commit:
            await uow.commit()


async def _pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM outbox_message WHERE published_at IS NULL")
        )
        return int(result.scalar_one())


async def test_committed_events_are_published_with_their_ids(
    engine: AsyncEngine,
    common_settings: CommonSettings,
    topology: Topology,
    events_queue: aio_pika.abc.AbstractQueue,
) -> None:
    broker = create_broker(common_settings, app_id="test")
    await broker.connect()
    relay = OutboxRelay(engine, common_settings.amqp_url, topology)
    events = [SampleEvent(data={"n": i}) for i in range(25)]
    await _emit(engine, events)
    await _emit(engine, [SampleEvent(data={"never": True})], commit=False)

    assert await relay.drain() == 25
    received = await collect(events_queue, 25)
    assert [m.message_id for m in received] == [str(e.event_id) for e in events]
    assert {m.routing_key for m in received} == {"lead.ingested.v1"}
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in received)
    assert received[0].correlation_id == events[0].correlation_id
    assert await _pending(engine) == 0
    await broker.stop()


async def test_relay_wakes_on_commit_without_polling(
    engine: AsyncEngine,
    common_settings: CommonSettings,
    topology: Topology,
    events_queue: aio_pika.abc.AbstractQueue,
) -> None:
    broker = create_broker(common_settings, app_id="test")
    await broker.connect()
    # A poll interval far beyond the test's timeout: only the NOTIFY can wake the relay.
    relay = OutboxRelay(engine, common_settings.amqp_url, topology, poll_seconds=3600)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.5)  # let the first (empty) drain pass and the listener connect
    event = SampleEvent()
    await _emit(engine, [event])
    [message] = await collect(events_queue, 1, within=10)
    assert message.message_id == str(event.event_id)
    relay.stop()
    await task
    await broker.stop()


async def test_events_committed_while_broker_is_down_arrive_after_it_returns(
    engine: AsyncEngine,
    amqp_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    events_queue: aio_pika.abc.AbstractQueue,
) -> None:
    target = urlparse(amqp_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await proxy.start()
    proxied = common_settings.model_copy(
        update={"amqp_url": amqp_url.replace(f":{target.port}", f":{proxy.port}")}
    )
    broker = create_broker(proxied, app_id="test")
    await broker.connect()
    relay = OutboxRelay(engine, proxied.amqp_url, topology, poll_seconds=0.2, publish_timeout=2)
    task = asyncio.create_task(relay.run())

    await proxy.cut()
    events = [SampleEvent(data={"n": i}) for i in range(10)]
    await _emit(engine, events)
    await asyncio.sleep(2)
    assert await _pending(engine) == 10  # nothing confirmed, nothing marked

    await proxy.restore()
    received = await collect(events_queue, 10, within=60)
    assert {m.message_id for m in received} >= {str(e.event_id) for e in events}
    for _ in range(50):
        if await _pending(engine) == 0:
            break
        await asyncio.sleep(0.2)
    assert await _pending(engine) == 0
    relay.stop()
    await task
    with contextlib.suppress(Exception):
        await broker.stop()
    await proxy.close()


async def test_two_relays_publish_each_event_once(
    engine: AsyncEngine,
    common_settings: CommonSettings,
    topology: Topology,
    events_queue: aio_pika.abc.AbstractQueue,
) -> None:
    brokers = [create_broker(common_settings, app_id=f"relay{i}") for i in range(2)]
    for broker in brokers:
        await broker.connect()
    relays = [
        OutboxRelay(engine, common_settings.amqp_url, topology, batch_size=20) for _ in brokers
    ]
    events = [SampleEvent(data={"n": i}) for i in range(300)]
    await _emit(engine, events)

    claimed = await asyncio.gather(*(relay.drain() for relay in relays))
    assert sum(claimed) == 300
    received = await collect(events_queue, 300)
    ids = [m.message_id for m in received]
    assert len(ids) == len(set(ids)) == 300
    await asyncio.sleep(0.5)
    assert await events_queue.get(fail=False) is None  # nothing published twice
    for broker in brokers:
        await broker.stop()


async def test_returned_event_stays_in_the_outbox(
    engine: AsyncEngine, common_settings: CommonSettings, topology: Topology
) -> None:
    # No queue is bound and the alternate exchange is missing (a broken topology): the broker
    # returns the message, so it is not marked published.
    broker = create_broker(common_settings, app_id="test")
    await broker.connect()
    await broker.declare_exchange(topology.events_exchange())
    relay = OutboxRelay(engine, common_settings.amqp_url, topology)
    await _emit(engine, [SampleEvent()])
    assert await relay.drain() == 1
    assert await _pending(engine) == 1
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT attempts, last_error FROM outbox_message"))).one()
    assert row.attempts == 1
    assert "NO_ROUTE" in row.last_error
    await broker.stop()


async def test_event_nobody_subscribes_to_is_kept_in_the_unrouted_queue(
    engine: AsyncEngine, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> None:
    broker = create_broker(common_settings, app_id="test")
    await broker.connect()
    await declare_topology(broker, topology)
    relay = OutboxRelay(engine, common_settings.amqp_url, topology)
    event = SampleEvent()
    await _emit(engine, [event])
    assert await relay.drain() == 1
    assert await _pending(engine) == 0
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    unrouted = await channel.get_queue(topology.unrouted_name)
    [message] = await collect(unrouted, 1)
    assert message.message_id == str(event.event_id)
    await connection.close()
    await broker.stop()


async def test_relay_in_a_child_process_publishes_on_commit_and_stops(
    engine: AsyncEngine,
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    events_queue: aio_pika.abc.AbstractQueue,
) -> None:
    # No poll within the test's time: the child hears the commit's NOTIFY, nothing else.
    relay = RelayProcess(database_url, common_settings.amqp_url, topology, poll_seconds=3600)
    await asyncio.to_thread(relay.start)
    try:
        events = [SampleEvent(data={"n": i}) for i in range(3)]
        await asyncio.sleep(2.0)  # the child starts (spawn) and its listener connects
        await _emit(engine, events)
        received = await collect(events_queue, 3, within=20)
        assert [m.message_id for m in received] == [str(e.event_id) for e in events]
        async with asyncio.timeout(10):  # marked published once the confirms are in
            while await _pending(engine):
                await asyncio.sleep(0.05)
    finally:
        await asyncio.to_thread(relay.stop)
    assert not relay.alive


_PARENT = """
import sys, time
from shared.messaging.topology import Topology
from shared.relay_process import RelayProcess

if __name__ == "__mp_main__":  # the relay process (spawn) imports this file again
    from shared.outbox import OutboxRelay

    run = OutboxRelay.run

    async def announced_run(self):
        print("relay running", flush=True)
        if sys.argv[4] == "busy":
            time.sleep(600)  # a batch that never yields: the relay's event loop gets no turn
        await run(self)

    OutboxRelay.run = announced_run

if __name__ == "__main__":
    relay = RelayProcess(sys.argv[1], sys.argv[2], Topology(sys.argv[3]), poll_seconds=3600)
    relay.start()
    print(relay._process.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("loop", ["idle", "busy"])
async def test_relay_process_stops_by_itself_when_its_service_is_killed(
    engine: AsyncEngine, database_url: str, amqp_url: str, topology: Topology, tmp_path, loop: str
) -> None:
    script = tmp_path / "service.py"
    script.write_text(_PARENT)
    parent = subprocess.Popen(  # noqa: ASYNC220 (a short-lived helper)
        [sys.executable, str(script), database_url, amqp_url, topology.namespace, loop],
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child = psutil.Process(int(await asyncio.to_thread(parent.stdout.readline)))
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 30)
        assert line == b"relay running\n"
        assert child.is_running()
    finally:
        parent.kill()  # SIGKILL: the service has no chance to stop its relay
        await asyncio.to_thread(parent.wait, 10)
    # The orphaned relay notices its parent is gone and exits within about a second, even
    # with its event loop busy.
    try:
        await asyncio.to_thread(child.wait, 3)
    except psutil.TimeoutExpired:
        child.kill()
        pytest.fail(f"the orphaned relay ({loop} loop) still ran 3 s after its service died")
    assert not child.is_running()


async def test_relay_cut_off_mid_batch_publishes_again_and_leaves_no_transaction_behind(
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    events_queue: aio_pika.abc.AbstractQueue,
) -> None:
    # One pooled connection: were the claim's transaction handed back to the pool, the next
    # relay would run inside it (its locks held, its rows claimed twice) instead of anew.
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    await create_messaging_tables(engine)
    try:
        events = [SampleEvent(data={"n": i}) for i in range(5)]
        await _emit(engine, events)
        stuck = OutboxRelay(engine, common_settings.amqp_url, topology)
        never = asyncio.Event()

        async def no_broker() -> None:  # the rows are claimed; the broker never answers
            await never.wait()

        stuck._events_channel = no_broker  # type: ignore[assignment,method-assign]
        batch = asyncio.create_task(stuck.publish_batch())
        await asyncio.sleep(0.5)
        batch.cancel()  # a crash between the claim and the confirms
        with pytest.raises(asyncio.CancelledError):
            await batch

        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None and not raw.is_in_transaction()
        assert await _pending(engine) == 5  # nothing marked without a confirm
        relay = OutboxRelay(engine, common_settings.amqp_url, topology)
        assert await relay.drain() == 5
        received = await collect(events_queue, 5)
        assert [m.message_id for m in received] == [str(e.event_id) for e in events]
        assert await _pending(engine) == 0
        await relay.close()
    finally:
        await engine.dispose()

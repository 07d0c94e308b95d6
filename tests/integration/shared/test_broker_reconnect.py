"""A consumer whose broker goes away and comes back resumes by itself, on the connection that
retries every ~1 s (shared.messaging.reconnect): every message is handled once, the ones
published meanwhile on their first delivery, none dead-lettered."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlparse

import aio_pika
import pytest
from faststream.rabbit.annotations import RabbitMessage

from shared.messaging.broker import create_broker
from shared.messaging.consumer import delivery_count, subscribe
from shared.messaging.reconnect import RECONNECT_SECONDS, QuickReconnect
from shared.messaging.topology import Topology
from shared.runtime import connect_broker
from shared.settings import CommonSettings
from shared.testing.proxy import TcpProxy

pytestmark = pytest.mark.integration


async def test_a_consumer_resumes_after_its_broker_comes_back_and_loses_no_delivery(
    amqp_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.messaging.reconnect")

    def said() -> list[str]:  # (some of aio-pika's own records cannot even be formatted)
        return [r.getMessage() for r in caplog.records if r.name == "shared.messaging.reconnect"]

    target = urlparse(amqp_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await proxy.start()
    proxied = common_settings.model_copy(
        update={"amqp_url": amqp_url.replace(f":{target.port}", f":{proxy.port}")}
    )
    handled: list[tuple[str, int]] = []  # (message id, earlier deliveries)

    def parse(body: bytes, message: RabbitMessage) -> tuple[str, int]:
        return json.loads(body)["id"], delivery_count(message)

    async def handle(item: tuple[str, int]) -> None:
        handled.append(item)

    broker = create_broker(proxied, app_id="test")
    queue = topology.consumer_queue("tester", "thing.happened.v1")
    subscribe(
        broker,
        broker,
        topology,
        queue,
        parse=parse,
        handle=handle,
        exchange=topology.events_exchange(),
    )
    await connect_broker(broker, topology, [queue.name], name="test")
    connection = await broker.connect()
    # faststream's connection is ours: ~1 s between tries, not aio-pika's fixed 5 s.
    assert isinstance(connection, QuickReconnect)
    assert connection.base_interval == RECONNECT_SECONDS

    direct = await aio_pika.connect(amqp_url)  # the test's own, not through the proxy
    try:
        channel = await direct.channel()
        exchange = await channel.get_exchange(topology.events_exchange_name)

        async def publish(ids: list[str]) -> None:
            for id_ in ids:
                await exchange.publish(
                    aio_pika.Message(json.dumps({"id": id_}).encode(), message_id=id_),
                    routing_key="thing.happened.v1",
                )

        async def handled_all(ids: list[str]) -> None:
            async with asyncio.timeout(60):
                while not set(ids) <= {id_ for id_, _ in handled}:
                    await asyncio.sleep(0.05)

        before = [f"before-{i}" for i in range(3)]
        await publish(before)
        await handled_all(before)

        await proxy.cut()  # the broker is gone, as in a restart
        during = [f"during-{i}" for i in range(5)]
        await publish(during)
        async with asyncio.timeout(30):  # it noticed, and keeps trying
            while not any("connection lost" in m for m in said()):
                await asyncio.sleep(0.05)
        await proxy.restore()  # back: nobody restarts the consumer

        await handled_all(during)
        after = [f"after-{i}" for i in range(3)]
        await publish(after)
        await handled_all(after)

        assert {id_ for id_, _ in handled} == set(before + during + after)
        # Published while it was away: delivered once it was back, each handled once. (A
        # delivery whose ack was on a link cut again may come once more, redelivered: the
        # inbox makes that a no-op; a delivery limit counts it, so never more than once.)
        later = [item for item in handled if not item[0].startswith("before")]
        assert sorted({id_ for id_, _ in later}) == sorted(during + after)
        assert all(count <= 1 for _, count in later)
        messages = said()
        lost = next(i for i, m in enumerate(messages) if "connection lost" in m)
        assert any("connection back" in m for m in messages[lost:])
        dlq = await channel.declare_queue(topology.dead_letter_queue_name(queue.name), passive=True)
        assert dlq.declaration_result.message_count == 0
    finally:
        await broker.stop()
        await direct.close()
        await proxy.close()

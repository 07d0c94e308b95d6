"""shared.messaging.publish against a real RabbitMQ: pipelined publishes, each confirmed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from shared.messaging.publish import PERSISTENT, Properties, publish_confirmed
from shared.messaging.topology import Topology
from tests.integration.shared.helpers import collect

pytestmark = pytest.mark.integration


@pytest.fixture
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(amqp_url)
    yield await connection.channel(publisher_confirms=True, on_return_raises=True)
    await connection.close()


@pytest.fixture
async def queue(
    channel: aio_pika.abc.AbstractChannel, topology: Topology
) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    queue = await channel.declare_queue(
        f"{topology.namespace}publish", durable=True, arguments={"x-queue-type": "quorum"}
    )
    yield queue
    await queue.delete(if_unused=False, if_empty=False)


async def test_messages_published_at_once_all_arrive_with_their_properties(
    channel: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue
) -> None:
    n = 300
    await asyncio.gather(
        *(
            publish_confirmed(
                channel,
                f"body {i}".encode(),
                exchange="",
                routing_key=queue.name,
                properties=Properties(
                    message_id=str(i),
                    headers={"event_type": "lead.ingested", "n": i},
                    message_type="lead.ingested",
                    delivery_mode=PERSISTENT,
                ),
                confirm_timeout=30,
            )
            for i in range(n)
        )
    )
    got = await collect(queue, n)
    assert sorted(int(m.message_id) for m in got) == list(range(n))
    first = min(got, key=lambda m: int(m.message_id))
    assert first.body == b"body 0"
    assert first.headers == {"event_type": "lead.ingested", "n": 0}
    assert first.type == "lead.ingested"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_a_mandatory_message_no_queue_takes_raises(
    channel: aio_pika.abc.AbstractChannel, topology: Topology
) -> None:
    with pytest.raises(aio_pika.exceptions.PublishError):
        await publish_confirmed(
            channel,
            b"lost?",
            exchange="",
            routing_key=f"{topology.namespace}no-such-queue",
            properties=Properties(message_id="1"),
            confirm_timeout=30,
        )

"""The broker behaviour every consumer relies on, checked on the broker the tests run on.

Supported: RabbitMQ 3.10 to 3.13 (deploy/README.md). 3.10 is the floor: quorum queues'
at-least-once dead-lettering (`x-dead-letter-strategy`) came with it. CI here runs the local
3.10 (a `rabbitmq:3.13` container where Docker runs; FORECOURT_TEST_AMQP_URL picks another);
docker-compose.yml runs 3.13. The version tested is printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aio_pika
import pytest

from shared.messaging.topology import Topology
from tests.integration.shared.conftest import BROKER_VERSIONS

pytestmark = pytest.mark.integration

SUPPORTED = ((3, 10), (3, 11), (3, 12), (3, 13))


@pytest.fixture
async def connection(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await connection.close()


@pytest.fixture
def broker_version(
    connection: aio_pika.abc.AbstractRobustConnection, request: pytest.FixtureRequest
) -> str:
    properties = connection.transport.connection.server_properties
    version = str(properties.get("version", "unknown"))
    request.config.stash.setdefault(BROKER_VERSIONS, set()).add(version)
    return version


def test_the_broker_is_a_supported_version(broker_version: str) -> None:
    match = re.match(r"(\d+)\.(\d+)", broker_version)
    assert match, f"RabbitMQ reports version {broker_version!r}"
    major_minor = (int(match[1]), int(match[2]))
    assert major_minor in SUPPORTED, (
        f"RabbitMQ {broker_version} is not among the supported versions (3.10 to 3.13): "
        "run the broker tests on it, then add it here and in deploy/README.md"
    )


async def _get(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    async with asyncio.timeout(10):
        while (message := await queue.get(no_ack=False, fail=False)) is None:
            await asyncio.sleep(0.05)
    return message


async def test_a_quorum_queue_counts_deliveries_and_dead_letters_past_its_limit(
    connection: aio_pika.abc.AbstractRobustConnection, topology: Topology, broker_version: str
) -> None:
    """What a consumer that crashes holding a message relies on: the broker counts each return
    in `x-delivery-count` and, once the count passes `x-delivery-limit`, dead-letters the
    message to `<queue>.dlq` itself instead of delivering it for ever."""
    name = f"{topology.namespace}broker-check"
    work, dead = topology.work_queue(name), topology.dead_letter_queue(name)
    channel = await connection.channel()
    dlx = await channel.declare_exchange(
        topology.dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dlq = await channel.declare_queue(dead.name, durable=True, arguments={"x-queue-type": "quorum"})
    await dlq.bind(dlx, routing_key=name)
    queue = await channel.declare_queue(
        work.name, durable=True, arguments={"x-queue-type": "quorum", **(work.arguments or {})}
    )
    await channel.default_exchange.publish(
        aio_pika.Message(b"poison", message_id="m-1"), routing_key=name
    )

    counts: list[int] = []
    for _ in range(topology.delivery_limit + 1):
        message = await _get(queue)
        # Absent or 0 on the first delivery, by version: shared.messaging.consumer reads both as 0.
        counts.append((message.headers or {}).get("x-delivery-count") or 0)
        await message.nack(requeue=True)
    expected = list(range(topology.delivery_limit + 1))
    assert counts == expected, f"on RabbitMQ {broker_version}"

    dead_message = await _get(dlq)
    await dead_message.ack()
    headers = dead_message.headers or {}
    assert dead_message.message_id == "m-1"
    assert headers.get("x-first-death-reason") == "delivery_limit", (
        f"on RabbitMQ {broker_version}: {headers}"
    )
    assert headers.get("x-first-death-queue") == name
    assert await queue.get(fail=False) is None, f"on RabbitMQ {broker_version}: not removed"

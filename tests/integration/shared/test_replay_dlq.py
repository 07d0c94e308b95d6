"""scripts/replay_dlq.py against a real RabbitMQ: dead letters go back to their source queue."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import aio_pika
import pytest
from faststream.rabbit.annotations import RabbitMessage

from scripts.replay_dlq import REPLAYS_HEADER, queue_names, replay
from shared.messaging.broker import create_broker
from shared.messaging.consumer import PoisonMessage, subscribe
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from tests.integration.shared.helpers import collect
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.integration

ROUTING_KEY = "thing.happened.v1"


@pytest.fixture
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(amqp_url)
    yield await connection.channel()
    await connection.close()


@pytest.fixture
async def source_queue(common_settings: CommonSettings, topology: Topology) -> AsyncIterator[str]:
    """A quorum work queue and its `.dlq`, declared as the services declare them."""
    broker = create_broker(common_settings, app_id="test")
    queue = topology.consumer_queue("replayer", ROUTING_KEY)
    await broker.connect()
    try:
        await broker.declare_queue(queue)
        await declare_topology(broker, topology, [queue.name])
        yield queue.name
    finally:
        await broker.stop()


async def ready_count(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return int(queue.declaration_result.message_count or 0)


async def wait_count(
    channel: aio_pika.abc.AbstractChannel, name: str, n: int, within: float = 10
) -> None:
    async with asyncio.timeout(within):
        while await ready_count(channel, name) != n:
            await asyncio.sleep(0.05)


async def dead_letter_by_consumer(
    channel: aio_pika.abc.AbstractChannel, topology: Topology, source: str, message_id: str
) -> None:
    """What shared.messaging.consumer.dead_letter does with a poison message."""
    dlx = await channel.get_exchange(topology.dead_letter_exchange_name)
    await dlx.publish(
        aio_pika.Message(
            b'{"n": 1}',
            message_id=message_id,
            content_type="application/json",
            headers={
                "x-forecourt-error": "no such tenant ghost",
                "x-forecourt-error-type": "PoisonMessage",
                "x-forecourt-queue": source,
                "x-delivery-count": 3,
                "tenant_id": "acme",
            },
        ),
        routing_key=source,
    )


async def dead_letter_by_broker(
    channel: aio_pika.abc.AbstractChannel, source: str, message_id: str
) -> None:
    """A message the broker dead-letters itself (rejected without requeue)."""
    await channel.default_exchange.publish(
        aio_pika.Message(b'{"n": 2}', message_id=message_id), routing_key=source
    )
    queue = await channel.get_queue(source, ensure=False)
    async with asyncio.timeout(10):
        while (message := await queue.get(fail=False)) is None:
            await asyncio.sleep(0.05)
    await message.reject(requeue=False)


def test_queue_names_accept_either_name() -> None:
    assert queue_names("crm-queue.lead.ingested.v1.dlq") == (
        "crm-queue.lead.ingested.v1",
        "crm-queue.lead.ingested.v1.dlq",
    )
    assert queue_names("forecourt.intake.raw") == (
        "forecourt.intake.raw",
        "forecourt.intake.raw.dlq",
    )


async def test_dry_run_shows_the_reasons_and_moves_nothing(
    amqp_url: str, topology: Topology, source_queue: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    dlq = topology.dead_letter_queue_name(source_queue)
    await dead_letter_by_consumer(channel, topology, source_queue, "poison-1")
    await dead_letter_by_broker(channel, source_queue, "rejected-1")
    await wait_count(channel, dlq, 2)

    result = await replay(amqp_url, dlq, dry_run=True)

    assert result.dry_run and result.moved == 0
    by_id = {d.message_id: d for d in result.seen}
    assert set(by_id) == {"poison-1", "rejected-1"}
    assert by_id["poison-1"].reason == "poison"
    assert by_id["poison-1"].error == "no such tenant ghost"
    assert by_id["poison-1"].error_type == "PoisonMessage"
    assert by_id["rejected-1"].reason == "rejected"
    await wait_count(channel, dlq, 2)
    assert await ready_count(channel, source_queue) == 0


async def test_replay_moves_dead_letters_back_to_their_queue(
    amqp_url: str, topology: Topology, source_queue: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    dlq = topology.dead_letter_queue_name(source_queue)
    await dead_letter_by_consumer(channel, topology, source_queue, "poison-1")
    await dead_letter_by_broker(channel, source_queue, "rejected-1")
    await wait_count(channel, dlq, 2)

    result = await replay(amqp_url, dlq)

    assert result.moved == 2 and result.source_queue == source_queue
    assert await ready_count(channel, dlq) == 0
    queue = await channel.get_queue(source_queue, ensure=False)
    back = {m.message_id: m for m in await collect(queue, 2)}
    assert set(back) == {"poison-1", "rejected-1"}
    poison = back["poison-1"]
    assert poison.body == b'{"n": 1}'
    assert poison.content_type == "application/json"
    assert poison.headers["tenant_id"] == "acme"  # the message's own headers stay
    assert poison.headers[REPLAYS_HEADER] == 1
    for message in back.values():
        dropped = [k for k in message.headers if k.startswith(("x-forecourt-e", "x-first-death"))]
        assert dropped == []
        assert "x-death" not in message.headers


async def test_limit_moves_only_that_many(
    amqp_url: str, topology: Topology, source_queue: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    dlq = topology.dead_letter_queue_name(source_queue)
    for i in range(3):
        await dead_letter_by_consumer(channel, topology, source_queue, f"poison-{i}")
    await wait_count(channel, dlq, 3)

    result = await replay(amqp_url, dlq, limit=2)

    assert result.moved == 2
    await wait_count(channel, source_queue, 2)
    assert await ready_count(channel, dlq) == 1


async def test_a_fixed_consumer_handles_the_replayed_message(
    amqp_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    """Poison at first (the consumer refuses it), handled once the cause is fixed and replayed."""
    known_tenants: set[str] = set()
    handled: asyncio.Queue[str] = asyncio.Queue()

    def parse(body: bytes, _message: RabbitMessage) -> dict[str, str]:
        return dict(json.loads(body))

    async def handle(data: dict[str, str]) -> None:
        if data["tenant"] not in known_tenants:
            raise PoisonMessage(f"no such tenant {data['tenant']}")
        await handled.put(data["tenant"])

    broker = create_broker(common_settings, app_id="test")
    queue = topology.consumer_queue("replayer", ROUTING_KEY)
    subscribe(
        broker,
        broker,
        topology,
        queue,
        parse=parse,
        handle=handle,
        exchange=topology.events_exchange(),
    )
    await broker.connect()
    await declare_topology(broker, topology, [queue.name])
    await broker.start()
    try:
        events = await channel.get_exchange(topology.events_exchange_name)
        await events.publish(
            aio_pika.Message(b'{"tenant": "late"}', message_id="e-1"), routing_key=ROUTING_KEY
        )
        dlq = topology.dead_letter_queue_name(queue.name)
        await wait_count(channel, dlq, 1)

        known_tenants.add("late")  # the fix
        result = await replay(amqp_url, dlq)

        assert result.moved == 1
        assert await asyncio.wait_for(handled.get(), 10) == "late"
        await asyncio.sleep(0.3)
        assert await ready_count(channel, dlq) == 0
    finally:
        await broker.stop()


async def test_command_line_dry_run_prints_each_dead_letter(
    amqp_url: str, topology: Topology, source_queue: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    dlq = topology.dead_letter_queue_name(source_queue)
    await dead_letter_by_consumer(channel, topology, source_queue, "poison-1")
    await wait_count(channel, dlq, 1)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scripts.replay_dlq", *args, "--amqp-url", amqp_url],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )

    dry = await asyncio.to_thread(run, dlq, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "poison-1" in dry.stdout
    assert "PoisonMessage: no such tenant ghost" in dry.stdout
    assert "dry run: 1 message(s)" in dry.stderr
    assert await ready_count(channel, dlq) == 1

    missing = await asyncio.to_thread(run, f"{topology.namespace}nothing.here.dlq")
    assert missing.returncode == 2
    assert "no such queue" in missing.stderr

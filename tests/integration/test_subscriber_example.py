"""docs/examples/subscriber.py, run as an outside system would run it, against the real RabbitMQ:
events a service commits to its outbox and the relay publishes reach the example's own queue,
by the routing keys it bound, once each; an unreadable message lands in its dead-letter queue."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts import (
    Envelope,
    EventPayload,
    LeadIngestedV1,
    LeadQualifiedV1,
    ProspectWonV1,
    new_envelope,
)
from shared.db import create_engine, session_factory
from shared.messaging.broker import create_broker
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Topology
from shared.outbox import OutboxRelay
from shared.settings import CommonSettings
from shared.uow import UnitOfWork
from tests.contract.samples import LEAD_ID, SAMPLES
from tests.integration.shared.helpers import create_messaging_tables
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.integration

EXAMPLE = REPO_ROOT / "docs" / "examples" / "subscriber.py"
WITHIN = 30.0  # seconds: a bound on a hang, not a measure of speed


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await create_messaging_tables(engine)
    yield engine
    await engine.dispose()


def envelope_of(payload_class: type[EventPayload]) -> Envelope[Any]:
    return new_envelope(
        SAMPLES[payload_class], tenant_id="acme", dealership_id="acme-1", lead_id=LEAD_ID
    )


async def publish_through_outbox(
    engine: AsyncEngine, relay: OutboxRelay, *events: Envelope[Any]
) -> None:
    """As a service publishes: rows written in a unit of work, then relayed with confirms."""
    async with UnitOfWork(session_factory(engine)) as uow:
        for event in events:
            uow.emit(event)
        await uow.commit()
    assert await relay.drain() == len(events)


async def dead_letters(amqp_url: str, queue: str, n: int) -> list[bytes]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(queue, ensure=True)
        got: list[bytes] = []
        async with asyncio.timeout(WITHIN):
            while len(got) < n:
                message = await dlq.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.1)
                else:
                    got.append(message.body)
        return got


async def delete_exchange(amqp_url: str, name: str) -> None:
    """The example's own dead-letter exchange (its queues are recorded in the topology)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(name)


async def test_the_example_prints_the_events_it_bound_once_each(
    engine: AsyncEngine, amqp_url: str, common_settings: CommonSettings, topology: Topology
) -> None:
    # The services declare the topology when they start; the example only looks it up.
    broker = create_broker(common_settings, app_id="test")
    await broker.connect()
    await declare_topology(broker, topology)
    await broker.stop()
    queue = f"subscriber{uuid.uuid4().hex[:6]}"
    assert topology.record is not None  # the fixture deletes what is recorded
    topology.record.update({f"{topology.namespace}{queue}", f"{topology.namespace}{queue}.dlq"})

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--url",
        amqp_url,
        "--namespace",
        topology.namespace,
        "--queue",
        queue,
        "--routing-key",
        "lead.ingested.v1",
        "--routing-key",
        "prospect.#",
        "--count",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    relay = OutboxRelay(engine, amqp_url, topology)
    try:
        assert process.stderr is not None
        async with asyncio.timeout(WITHIN):
            ready = (await process.stderr.readline()).decode()
        assert ready.startswith("listening on"), ready

        # Poison first: the example dead-letters it and goes on.
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(topology.events_exchange_name)
            await exchange.publish(aio_pika.Message(b"not json"), "lead.ingested.v1")

        ingested = envelope_of(LeadIngestedV1)
        qualified = envelope_of(LeadQualifiedV1)  # not bound: never printed
        await publish_through_outbox(engine, relay, ingested, qualified)
        # The same event again, as after a relay's lost confirm: printed once.
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(topology.events_exchange_name)
            await exchange.publish(
                aio_pika.Message(ingested.to_json_bytes(), message_id=str(ingested.event_id)),
                "lead.ingested.v1",
            )
        won = envelope_of(ProspectWonV1)
        await publish_through_outbox(engine, relay, won)

        async with asyncio.timeout(WITHIN):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await relay.close()
        await delete_exchange(amqp_url, f"{topology.namespace}{queue}.dlx")

    assert process.returncode == 0, err.decode()
    printed = [json.loads(line) for line in out.decode().splitlines()]
    assert [p["routing_key"] for p in printed] == ["lead.ingested.v1", "prospect.won.v1"]
    for line, sent in zip(printed, (ingested, won), strict=True):
        assert line["event_id"] == str(sent.event_id)
        assert line["event_type"] == sent.event_type
        assert line["event_version"] == sent.event_version
        assert line["envelope"] == json.loads(sent.to_json_bytes())
    assert b"unreadable message" in err
    assert await dead_letters(amqp_url, f"{topology.namespace}{queue}.dlq", 1) == [b"not json"]

"""intake's GET /metrics: Prometheus text, requests by route template, events consumed (ack,
duplicate skipped, dead-lettered), the relay's publishes and the outbox backlog."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest

from shared.contracts import LeadLostV1, new_envelope
from shared.messaging.topology import Topology
from tests.integration.intake.conftest import Intake
from tests.integration.prometheus import (
    an_id,
    check_service_metrics,
    consumed,
    scrape,
    until_consumed,
    value,
)

pytestmark = pytest.mark.integration


async def test_metrics_count_requests_events_and_publishes(
    intake: Intake, amqp_url: str, topology: Topology
) -> None:
    source = await intake.source("acme")
    lost = new_envelope(
        LeadLostV1(
            sequence=3,
            reason_code="no_interest.follow_up",
            category="no_interest",
            attempts=6,
            lost_at=datetime.now(UTC),
            do_not_contact=False,
        ),
        tenant_id="acme",
        dealership_id=source["dealership_id"],
        lead_id=uuid.uuid4(),  # unknown here: claimed, nothing else
    )
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.events_exchange_name)

        async def publish() -> None:
            message = aio_pika.Message(lost.to_json_bytes(), message_id=str(lost.event_id))
            await exchange.publish(message, routing_key=lost.routing_key)

        await check_service_metrics(
            intake.client,
            raw_path=f"/v1/leads/bulk/{an_id()}",
            template="/v1/leads/bulk/{job_id}",
            queue_suffix="intake.lead.lost.v1",
            publish=publish,
        )

        # A raw lead that is not JSON: dead-lettered, and counted so.
        raw = topology.intake_raw_queue_name
        dead = consumed(await scrape(intake.client), raw, "dead_lettered")
        await channel.default_exchange.publish(
            aio_pika.Message(b"not json", headers={"x-api-key": source["api_key"]}),
            routing_key=raw,
        )
        await until_consumed(intake.client, raw, "dead_lettered", dead + 1)
    finally:
        await connection.close()

    # A lead taken: its lead.ingested goes through the outbox and the relay counts it.
    published = "forecourt_outbox_published_total"
    before = value(await scrape(intake.client), published, outcome="published")
    r = await intake.post(source["api_key"], {"email": "metrics@example.com"})
    assert r.status_code in (200, 201, 202), r.text
    await intake.events.wait_for("lead.ingested")
    async with asyncio.timeout(30):
        while True:
            samples = await scrape(intake.client)
            if value(samples, published, outcome="published") > before:
                break
            await asyncio.sleep(0.1)
    assert "/v1/leads" in {
        dict(labels).get("route") for name, labels in samples if "http_requests" in name
    }
    assert value(samples, "forecourt_outbox_backlog") >= 0

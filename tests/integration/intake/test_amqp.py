"""The durable queue forecourt.intake.raw, and the events that take a lead out of first contact."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from sqlalchemy import text

from intake.domain.submission import LeadSubmission
from intake.service_layer import ingest as ingest_module
from shared.contracts import LeadLostV1, LeadReactivatedV1, new_envelope
from shared.messaging.topology import Topology
from tests.integration.intake.conftest import Intake
from tests.integration.shared.helpers import collect

pytestmark = pytest.mark.integration


async def _push(
    amqp_url: str, queue: str, body: bytes, *, key: str | None, message_id: str | None = None
) -> None:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    headers = {"x-api-key": key} if key else {}
    await channel.default_exchange.publish(
        aio_pika.Message(
            body, headers=headers, message_id=message_id, content_type="application/json"
        ),
        routing_key=queue,
        mandatory=True,
    )
    await connection.close()


async def test_lead_pushed_on_the_raw_queue_is_ingested_once(
    intake: Intake, amqp_url: str, topology: Topology
) -> None:
    source = await intake.source("acme")
    body = json.dumps({"first_name": "Ann", "email": "ann.amqp@example.com"}).encode()
    for _ in range(2):  # the same message delivered twice (a redelivery)
        await _push(
            amqp_url, topology.intake_raw_queue_name, body, key=source["api_key"], message_id="m-1"
        )
    [event] = await intake.events.wait_for("lead.ingested")
    assert event["payload"]["person"]["email"] == "ann.amqp@example.com"
    events = await intake.events.settle()
    assert len([e for e in events if e["event_type"] in ("lead.ingested", "lead.duplicate")]) == 1
    assert await _raw_rows(intake, "m-1") == [("processed", None)]  # one row per message


async def _raw_rows(intake: Intake, message_id: str) -> list[tuple[str, str | None]]:
    async with intake.app.state.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT status, error FROM raw_payload WHERE idempotency_key = :m"),
            {"m": message_id},
        )
        return [(r.status, r.error) for r in rows]


async def test_a_message_with_nul_bytes_is_ingested_without_them(
    intake: Intake, amqp_url: str, topology: Topology
) -> None:
    source = await intake.source("acme")
    body = b'{"first_name": "N\\u0000ul", "email": "nul.amqp@example.com\\u0000"}'
    await _push(
        amqp_url, topology.intake_raw_queue_name, body, key=source["api_key"], message_id="m-nul"
    )
    [event] = await intake.events.wait_for("lead.ingested")
    assert event["payload"]["person"]["first_name"] == "Nul"
    assert event["payload"]["person"]["email"] == "nul.amqp@example.com"
    assert await _raw_rows(intake, "m-nul") == [("processed", None)]


async def test_a_message_that_cannot_be_processed_is_dead_lettered_with_its_error_once(
    intake: Intake, amqp_url: str, topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an outage, not a bad field: a bug. Retrying it only burned the delivery limit (and
    left a pending raw row per delivery) before the broker dead-lettered it without a reason."""
    original = ingest_module.normalise

    def normalise(sub: LeadSubmission, **kw: Any) -> Any:
        if sub.email == "boom@example.com":
            raise RuntimeError("boom")
        return original(sub, **kw)

    monkeypatch.setattr(ingest_module, "normalise", normalise)
    source = await intake.source("acme")
    body = b'{"email": "boom@example.com"}'
    await _push(
        amqp_url, topology.intake_raw_queue_name, body, key=source["api_key"], message_id="m-bug"
    )
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    dlq = await channel.get_queue(topology.dead_letter_queue_name(topology.intake_raw_queue_name))
    [dead] = await collect(dlq, 1)
    await connection.close()
    assert dead.body == body
    assert dead.headers["x-forecourt-error"] == "RuntimeError: boom"
    assert "x-delivery-count" not in (dead.headers or {})  # dead-lettered at its first delivery
    assert await _raw_rows(intake, "m-bug") == [("failed", "RuntimeError: boom")]


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        (b"{broken", "valid", "Invalid JSON"),
        (b'{"email": 42}', "valid", "email"),
        (b'{"email": "a@example.com"}', None, "x-api-key header is required"),
        (b'{"email": "a@example.com"}', "fck_000000000000_wrong", "invalid or revoked API key"),
    ],
)
async def test_poison_message_reaches_the_dlq_with_its_reason(
    intake: Intake, amqp_url: str, topology: Topology, body: bytes, key: str | None, reason: str
) -> None:
    source = await intake.source("acme")
    api_key = source["api_key"] if key == "valid" else key
    await _push(amqp_url, topology.intake_raw_queue_name, body, key=api_key, message_id="bad")
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    dlq = await channel.get_queue(topology.dead_letter_queue_name(topology.intake_raw_queue_name))
    [dead] = await collect(dlq, 1)
    assert dead.body == body
    assert reason in str(dead.headers["x-forecourt-error"])
    await connection.close()


async def test_a_message_over_the_body_limit_is_dead_lettered_and_its_start_kept(
    intake: Intake, amqp_url: str, topology: Topology
) -> None:
    """The HTTP body limit holds on AMQP too: a 20 MB message became a lead with a 20 MB
    comment."""
    source = await intake.source("acme")
    limit = intake.app.state.settings.max_json_bytes
    body = json.dumps({"email": "big@example.com", "comments": "x" * limit}).encode()
    await _push(
        amqp_url, topology.intake_raw_queue_name, body, key=source["api_key"], message_id="m-big"
    )
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    dlq = await channel.get_queue(topology.dead_letter_queue_name(topology.intake_raw_queue_name))
    [dead] = await collect(dlq, 1)
    await connection.close()
    assert dead.headers["x-forecourt-error"] == f"body is {len(body)} bytes; the limit is {limit}"
    async with intake.app.state.engine.connect() as conn:
        raw = (
            await conn.execute(
                text("SELECT status, error, body FROM raw_payload WHERE idempotency_key = 'm-big'")
            )
        ).one()
    assert raw.status == "invalid"
    assert raw.error.startswith(f"body is {len(body)} bytes")
    assert bytes(raw.body) == body[:limit]
    assert not intake.events.of("lead.ingested")


async def test_a_message_with_a_field_over_its_cap_is_dead_lettered_naming_it(
    intake: Intake, amqp_url: str, topology: Topology
) -> None:
    source = await intake.source("acme")
    body = json.dumps({"email": "long@example.com", "vehicle": {"model": "x" * 101}}).encode()
    await _push(
        amqp_url, topology.intake_raw_queue_name, body, key=source["api_key"], message_id="m-long"
    )
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    dlq = await channel.get_queue(topology.dead_letter_queue_name(topology.intake_raw_queue_name))
    [dead] = await collect(dlq, 1)
    await connection.close()
    assert dead.headers["x-forecourt-error"] == (
        "vehicle.model: String should have at most 100 characters"
    )


async def test_closed_lead_is_not_merged_but_is_while_open(
    intake: Intake, amqp_url: str, topology: Topology
) -> None:
    source = await intake.source("acme")
    first = (await intake.post(source["api_key"], {"email": "c@example.com"})).json()
    async with intake.app.state.engine.begin() as conn:  # the lead is 40 days old
        await conn.execute(
            text("UPDATE lead SET last_enquiry_at = now() - interval '40 days' WHERE id = :id"),
            {"id": first["lead_id"]},
        )
    # Still open: merged whatever its age.
    again = (await intake.post(source["api_key"], {"email": "c@example.com"})).json()
    assert (again["outcome"], again["lead_id"]) == ("merged", first["lead_id"])

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
        lead_id=uuid.UUID(first["lead_id"]),
    )
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(topology.events_exchange_name)
    await exchange.publish(
        aio_pika.Message(lost.to_json_bytes(), message_id=str(lost.event_id)),
        routing_key=lost.routing_key,
    )
    async with intake.app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE lead SET last_enquiry_at = now() - interval '40 days' WHERE id = :id"),
            {"id": first["lead_id"]},
        )
    for _ in range(100):
        async with intake.app.state.engine.connect() as conn:
            status = (
                await conn.execute(
                    text("SELECT status FROM lead WHERE id = :id"), {"id": first["lead_id"]}
                )
            ).scalar_one()
        if status == "closed":
            break
        await asyncio.sleep(0.1)
    assert status == "closed"
    # Closed: a new lead (see test_asks_again for the rules).
    fresh = (await intake.post(source["api_key"], {"email": "c@example.com"})).json()
    assert fresh["outcome"] == "ingested"
    assert fresh["lead_id"] != first["lead_id"]

    # A reactivation arrives late: the lead stays out of first contact.
    stale = new_envelope(
        LeadReactivatedV1(
            sequence=2,
            recovery_id=uuid.uuid4(),
            origin="lead",
            previous_reason_code="no_interest.follow_up",
            reactivated_at=datetime.now(UTC),
        ),
        tenant_id="acme",
        lead_id=uuid.UUID(first["lead_id"]),
        occurred_at=lost.occurred_at - timedelta(minutes=5),
    )
    await exchange.publish(
        aio_pika.Message(stale.to_json_bytes(), message_id=str(stale.event_id)),
        routing_key=stale.routing_key,
    )
    for _ in range(100):  # handled once its id is in the inbox
        async with intake.app.state.engine.connect() as conn:
            handled = (
                await conn.execute(
                    text("SELECT count(*) FROM inbox_message WHERE event_id = :e"),
                    {"e": stale.event_id},
                )
            ).scalar_one()
        if handled:
            break
        await asyncio.sleep(0.1)
    assert handled == 1
    async with intake.app.state.engine.connect() as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM lead WHERE id = :id"), {"id": first["lead_id"]}
            )
        ).scalar_one()
    assert status == "closed"
    await connection.close()

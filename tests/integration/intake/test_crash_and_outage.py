"""A crash at any point between receive and publish loses nothing; nor does a broker outage."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from intake.adapters.repository import IntakeRepository
from intake.domain.submission import LeadSubmission
from intake.entrypoints.http.app import create_app
from intake.service_layer import ingest as ingest_module
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.proxy import TcpProxy
from tests.integration.intake.conftest import Intake, intake_settings, probe

pytestmark = pytest.mark.integration


async def test_payload_stored_before_a_crash_is_processed_by_the_sweeper(
    intake: Intake,
) -> None:
    source = await intake.source("acme")
    async with intake.app.state.uow_factory() as uow:
        row = await IntakeRepository(uow.session).source("acme", uuid.UUID(source["id"]))
    assert row is not None
    # The request stored its raw payload, then the process died before processing it.
    raw_id = await intake.app.state.receiver.store(
        row,
        fmt="json",
        body=json.dumps({"email": "crashed@example.com"}).encode(),
        content_type="application/json",
        idempotency_header=None,
    )
    [event] = await intake.events.wait_for("lead.ingested", within=20)
    assert event["payload"]["person"]["email"] == "crashed@example.com"
    assert event["correlation_id"] == str(raw_id)
    async with intake.app.state.engine.connect() as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM raw_payload WHERE id = :id"), {"id": raw_id}
            )
        ).scalar_one()
    assert status == "processed"


async def test_the_sweep_marks_a_payload_it_cannot_process_failed_and_goes_on(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload that fails every time (a bug, or a NUL byte PostgreSQL refused) stopped every
    sweep at the same row, so no payload a crash left pending was ever recovered again."""
    original = ingest_module.normalise

    def normalise(sub: LeadSubmission, **kw: Any) -> Any:
        if sub.email == "boom@example.com":
            raise RuntimeError("boom")
        return original(sub, **kw)

    monkeypatch.setattr(ingest_module, "normalise", normalise)
    source = await intake.source("acme")
    async with intake.app.state.uow_factory() as uow:
        row = await IntakeRepository(uow.session).source("acme", uuid.UUID(source["id"]))
    assert row is not None
    receiver = intake.app.state.receiver
    left_pending = []  # stored, then the process died: oldest first, as the sweep takes them
    for body in (
        b'{"email": "boom@example.com"}',
        b'{"email": "nul@example.com", "first_name": "N\\u0000ul"}',
        b'{"email": "fine@example.com"}',
    ):
        left_pending.append(
            await receiver.store(
                row, fmt="json", body=body, content_type=None, idempotency_header=None
            )
        )
    await receiver.sweep(timedelta(0))
    async with intake.app.state.engine.connect() as conn:
        status = {
            r.id: (r.status, r.error)
            for r in await conn.execute(text("SELECT id, status, error FROM raw_payload"))
        }
    boom, nul, fine = left_pending
    assert status[boom] == ("failed", "RuntimeError: boom")
    assert status[nul] == ("processed", None)
    assert status[fine] == ("processed", None)


async def test_events_committed_before_a_crash_are_published_after_restart(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> None:
    connection, events = await probe(amqp_url, topology)
    # First life: the relay never runs (the process dies right after the commit).
    dying = create_app(
        intake_settings(database_url, common_settings, run_relay=False), topology=topology
    )
    async with LifespanManager(dying) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
            intake = Intake(dying, client, common_settings, events)
            source = await intake.source("acme")
            r = await intake.post(source["api_key"], {"email": "kept@example.com"})
            lead_id = r.json()["lead_id"]
    assert not events.of("lead.ingested")
    # Second life: the relay publishes what the first one committed.
    reborn = create_app(intake_settings(database_url, common_settings), topology=topology)
    async with LifespanManager(reborn):
        [event] = await events.wait_for("lead.ingested", lead_id=lead_id, within=20)
    assert event["payload"]["person"]["email"] == "kept@example.com"
    await connection.close()


async def test_leads_taken_while_the_broker_is_down_are_published_when_it_returns(
    database_url: str, common_settings: CommonSettings, topology: Topology, amqp_url: str
) -> None:
    target = urlparse(amqp_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await proxy.start()
    proxied = common_settings.model_copy(
        update={"amqp_url": amqp_url.replace(f":{target.port}", f":{proxy.port}")}
    )
    connection, events = await probe(amqp_url, topology)
    app = create_app(intake_settings(database_url, proxied), topology=topology)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
            intake = Intake(app, client, proxied, events)
            source = await intake.source("acme")
            await proxy.cut()  # the broker "stops"
            ids = []
            for i in range(5):
                r = await intake.post(source["api_key"], {"email": f"down{i}@example.com"})
                assert r.status_code == 202  # intake keeps taking leads
                ids.append(r.json()["lead_id"])
            await events.settle(quiet=1.0)
            assert not events.of("lead.ingested")
            await proxy.restore()  # and "starts again"
            for lead_id in ids:
                await events.wait_for("lead.ingested", lead_id=lead_id, within=60)
            for _ in range(50):  # confirmed rows are marked just after the broker acks them
                async with app.state.engine.connect() as conn:
                    pending = (
                        await conn.execute(
                            text("SELECT count(*) FROM outbox_message WHERE published_at IS NULL")
                        )
                    ).scalar_one()
                if pending == 0:
                    break
                await asyncio.sleep(0.1)
            assert pending == 0
    await connection.close()
    await proxy.close()


async def test_a_database_outage_is_503_and_what_it_stranded_is_processed_when_it_ends(
    database_url: str,
    common_settings: CommonSettings,
    topology: Topology,
    amqp_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database goes down between keeping a payload and processing it: the caller gets a
    503 with Retry-After (it got a 500), and the payload is processed once the database is
    back, not after INTAKE_STALE_RAW_SECONDS (here an hour)."""
    target = make_url(database_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
    connection, events = await probe(amqp_url, topology)
    app = create_app(
        intake_settings(proxied, common_settings, stale_raw_seconds=3600), topology=topology
    )
    try:
        async with LifespanManager(app, startup_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
                intake = Intake(app, client, common_settings, events)
                source = await intake.source("acme")
                batcher = app.state.receiver.batcher
                keep = batcher._store

                async def keep_then_fail(batch: Any) -> Any:
                    stored = await keep(batch)
                    await proxy.cut()  # the database goes away right after the commit
                    return stored

                monkeypatch.setattr(batcher, "_store", keep_then_fail)
                r = await intake.post(source["api_key"], {"email": "stranded@example.com"})
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"] == "5"
                monkeypatch.setattr(batcher, "_store", keep)
                # Still down: nothing can be kept either; the same answer.
                r = await intake.post(source["api_key"], {"email": "refused@example.com"})
                assert (r.status_code, r.headers.get("Retry-After")) == (503, "5")
                await proxy.restore()
                [event] = await events.wait_for("lead.ingested", within=30)
                assert event["payload"]["person"]["email"] == "stranded@example.com"
                r = await intake.post(source["api_key"], {"email": "after@example.com"})
                assert r.status_code == 202, r.text
    finally:
        await connection.close()
        await proxy.close()

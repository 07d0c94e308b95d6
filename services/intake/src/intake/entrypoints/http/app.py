"""The intake app: FastAPI for HTTP, faststream for AMQP, one lifespan that owns them both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

import intake
from intake.config import IntakeSettings
from intake.entrypoints import amqp
from intake.entrypoints.http import admin, bulk, leads
from intake.service_layer.bulk import BulkJobs
from intake.service_layer.receive import Receiver
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.clock import Clock, SystemClock
from shared.db import create_engine, migrate, session_factory
from shared.messaging.broker import create_broker
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Topology
from shared.outbox import OutboxRelay

log = logging.getLogger(__name__)

ALEMBIC_INI = Path(intake.__file__).resolve().parents[2] / "alembic.ini"


async def _sweep_forever(receiver: Receiver, settings: IntakeSettings) -> None:
    from datetime import timedelta

    while True:
        await asyncio.sleep(settings.stale_raw_seconds / 2)
        try:
            if n := await receiver.sweep(timedelta(seconds=settings.stale_raw_seconds)):
                log.warning("processed %d raw payloads a crash had left pending", n)
        except Exception:
            log.exception("raw payload sweep failed")


def create_app(
    settings: IntakeSettings | None = None,
    *,
    topology: Topology | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or IntakeSettings()
    common = settings.common
    topology = topology or Topology(common.namespace, common.delivery_limit)
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(ALEMBIC_INI, settings.database_url)
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        broker = create_broker(common, app_id="intake")
        relay = OutboxRelay(
            engine,
            broker,
            topology,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
        )

        def uow_factory() -> IntakeUnitOfWork:
            return IntakeUnitOfWork(sessions, on_commit=relay.wake)

        receiver = Receiver(uow_factory, clock, max_adf_bytes=settings.max_adf_bytes)
        jobs = BulkJobs(
            engine,
            uow_factory,
            clock,
            batch_size=settings.bulk_batch_size,
            max_rows=settings.max_bulk_rows,
        )
        queues = amqp.register(broker, topology, receiver, uow_factory)
        await broker.connect()
        await declare_topology(broker, topology, queues)
        await broker.start()

        app.state.settings = settings
        app.state.common_settings = common
        app.state.engine = engine
        app.state.broker = broker
        app.state.uow_factory = uow_factory
        app.state.receiver = receiver
        app.state.bulk = jobs
        app.state.relay = relay
        tasks = [asyncio.create_task(_sweep_forever(receiver, settings))]
        if settings.run_relay:
            tasks.append(asyncio.create_task(relay.run()))
        if settings.run_bulk_worker:
            tasks.append(asyncio.create_task(jobs.run()))
        try:
            yield
        finally:
            relay.stop()
            jobs.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Forecourt intake",
        version="0.1.0",
        description="Receives leads from every source, normalises and de-duplicates them.",
        lifespan=lifespan,
    )
    app.include_router(leads.router)
    app.include_router(bulk.router)
    app.include_router(admin.router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> Any:
        checks = {}
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"down: {type(exc).__name__}"
        broker = request.app.state.broker
        checks["broker"] = "ok" if await broker.ping(timeout=2) else "down"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if ok else 503)

    return app

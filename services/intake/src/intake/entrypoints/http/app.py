"""The intake app: FastAPI for HTTP, faststream for AMQP, one lifespan that owns them both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import intake
from intake.config import IntakeSettings
from intake.entrypoints import amqp
from intake.entrypoints.http import admin, bulk, email_admin, erasure, lead_views, leads
from intake.service_layer.batching import Batcher
from intake.service_layer.bulk import BulkJobs
from intake.service_layer.receive import Receiver
from intake.service_layer.sources import SourceKeys
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.clock import Clock, service_clock
from shared.http import HttpLimits, add_health_routes, harden
from shared.messaging.topology import Topology
from shared.observability import add_metrics
from shared.runtime import Runtime, run_service

log = logging.getLogger(__name__)

ALEMBIC_INI = Path(intake.__file__).resolve().parents[2] / "alembic.ini"


async def _sweep_forever(receiver: Receiver, settings: IntakeSettings, engine: AsyncEngine) -> None:
    """Every INTAKE_STALE_RAW_SECONDS / 2, the payloads a crash left pending longer than
    INTAKE_STALE_RAW_SECONDS; and, as soon as the database is back after an outage, every
    payload the outage left pending."""

    async def probe() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    while True:
        outage = await receiver.outage.wait(settings.stale_raw_seconds / 2)
        try:
            if outage:
                await receiver.outage.until_over(probe)
                n = await receiver.recover()
                log.warning("database back: processed %d raw payloads it had left pending", n)
            elif n := await receiver.sweep(timedelta(seconds=settings.stale_raw_seconds)):
                log.warning("processed %d raw payloads a crash had left pending", n)
        except Exception as exc:
            receiver.outage.saw(exc)
            log.exception("raw payload sweep failed")
            await asyncio.sleep(1)  # an outage met mid-sweep: do not spin


def create_app(
    settings: IntakeSettings | None = None,
    *,
    topology: Topology | None = None,
    clock: Clock | None = None,
    http_limits: HttpLimits | None = None,
) -> FastAPI:
    settings = settings or IntakeSettings()
    common = settings.common
    topology = topology or Topology(common.namespace, common.delivery_limit)
    clock = clock or service_clock(common.clock_file)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wiring: dict[str, Any] = {}

        def subscribe(runtime: Runtime) -> list[str]:
            def uow_factory() -> IntakeUnitOfWork:
                return IntakeUnitOfWork(runtime.sessions, on_commit=runtime.wake_relay)

            receiver = Receiver(
                uow_factory,
                clock,
                max_adf_bytes=settings.max_adf_bytes,
                max_adf_prospects=settings.max_adf_prospects,
            )
            keys = SourceKeys(uow_factory, settings.key_cache_seconds)
            wiring.update(uow_factory=uow_factory, receiver=receiver, source_keys=keys)
            return amqp.register(
                runtime.broker,
                topology,
                receiver,
                uow_factory,
                keys,
                max_bytes=settings.max_json_bytes,
            )

        async with run_service(
            "intake", settings, alembic_ini=ALEMBIC_INI, topology=topology, subscribe=subscribe
        ) as runtime:
            jobs = BulkJobs(
                runtime.engine,
                wiring["uow_factory"],
                clock,
                batch_size=settings.bulk_batch_size,
                max_rows=settings.max_bulk_rows,
                max_attempts=settings.bulk_max_attempts,
            )
            app.state.settings = settings
            app.state.common_settings = common
            app.state.runtime = runtime
            app.state.engine = runtime.engine
            app.state.uow_factory = wiring["uow_factory"]
            app.state.receiver = wiring["receiver"]
            app.state.source_keys = wiring["source_keys"]
            app.state.bulk = jobs
            runtime.background(_sweep_forever(wiring["receiver"], settings, runtime.engine))
            if settings.batch_workers:
                batcher = Batcher(
                    wiring["receiver"],
                    wiring["uow_factory"],
                    clock,
                    max_batch=settings.max_batch,
                    workers=settings.batch_workers,
                )
                wiring["receiver"].batcher = batcher
                runtime.background(batcher.run())
            if settings.run_bulk_worker:
                runtime.background(jobs.run())
            try:
                yield
            finally:
                jobs.stop()

    app = FastAPI(
        title="Forecourt intake",
        version="0.1.0",
        description="Receives leads from every source, normalises and de-duplicates them.",
        lifespan=lifespan,
    )
    app.include_router(leads.router)
    app.include_router(bulk.router)
    app.include_router(admin.router)
    app.include_router(email_admin.router)
    app.include_router(erasure.router)
    app.include_router(lead_views.router)
    app.state.clock = clock
    add_health_routes(app)
    add_metrics(app)
    return harden(app, http_limits)  # request limits, 503 during a database outage

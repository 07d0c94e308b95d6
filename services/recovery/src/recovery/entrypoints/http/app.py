"""The recovery app: the CRM department's follow-ups over HTTP, the funnel's consumers, and
the scanner that fires due steps."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

import recovery
from recovery.config import RecoverySettings
from recovery.entrypoints import amqp
from recovery.entrypoints.http import routes
from recovery.service_layer.scanner import Scanner
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.clock import Clock, service_clock
from shared.http import add_health_routes, limit_body
from shared.messaging.topology import Topology
from shared.observability import add_metrics
from shared.runtime import Runtime, run_service

ALEMBIC_INI = Path(recovery.__file__).resolve().parents[2] / "alembic.ini"


def create_app(
    settings: RecoverySettings | None = None,
    *,
    topology: Topology | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or RecoverySettings()
    common = settings.common
    topology = topology or Topology(common.namespace, common.delivery_limit)
    the_clock = clock or service_clock(common.clock_file)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def uow_factory() -> RecoveryUnitOfWork:
            return RecoveryUnitOfWork(
                app.state.runtime.sessions, on_commit=app.state.runtime.wake_relay
            )

        def subscribe(runtime: Runtime) -> list[str]:
            app.state.runtime = runtime
            return amqp.register(runtime, uow_factory, the_clock)

        async with run_service(
            "recovery", settings, alembic_ini=ALEMBIC_INI, topology=topology, subscribe=subscribe
        ) as runtime:
            scanner = Scanner(
                runtime.engine,
                uow_factory,
                the_clock,
                batch_size=settings.scanner_batch_size,
                max_sleep=settings.scanner_max_sleep_seconds,
            )
            app.state.uow_factory = uow_factory
            app.state.clock = the_clock
            app.state.scanner = scanner
            if settings.run_scanner:
                runtime.background(scanner.run())
            try:
                yield
            finally:
                scanner.stop()

    app = FastAPI(
        title="Forecourt recovery",
        version="0.1.0",
        description="Lost leads and prospects followed up on a cadence per lost reason until "
        "reactivated, bought elsewhere or dead; the CRM department's due follow-ups.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.common_settings = common
    app.include_router(routes.router)
    add_health_routes(app)
    add_metrics(app)
    return limit_body(app, settings.max_body_bytes)  # 413 past RECOVERY_MAX_BODY_BYTES

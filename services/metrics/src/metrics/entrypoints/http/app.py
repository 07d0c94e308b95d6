"""The metrics app: the funnel's consumers, the KPI API, the dashboard and /metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

import metrics
from metrics.config import MetricsSettings
from metrics.entrypoints import amqp
from metrics.entrypoints.http import kpis
from metrics.entrypoints.observe import Observer
from metrics.service_layer.unit_of_work import MetricsUnitOfWork
from shared.clock import Clock, service_clock
from shared.http import add_health_routes
from shared.messaging.topology import Topology
from shared.observability import add_metrics
from shared.runtime import Runtime, run_service

ALEMBIC_INI = Path(metrics.__file__).resolve().parents[2] / "alembic.ini"
DASHBOARD = Path(__file__).resolve().parent / "static" / "dashboard.html"


def create_app(
    settings: MetricsSettings | None = None,
    *,
    topology: Topology | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or MetricsSettings()
    common = settings.common
    topology = topology or Topology(common.namespace, common.delivery_limit)
    the_clock = clock or service_clock(common.clock_file)
    observer = Observer()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def uow_factory() -> MetricsUnitOfWork:
            return MetricsUnitOfWork(app.state.runtime.sessions)

        def subscribe(runtime: Runtime) -> list[str]:
            app.state.runtime = runtime
            return amqp.register(runtime, uow_factory, observer)

        async with run_service(
            "metrics", settings, alembic_ini=ALEMBIC_INI, topology=topology, subscribe=subscribe
        ):
            yield

    app = FastAPI(
        title="Forecourt metrics",
        version="0.1.0",
        description="The funnel's KPIs projected from every event: conversion, speed to lead, "
        "persistence, lost reasons, recovery, sources and their credits, consultants and agents. "
        "Managers and admins of a dealer group, with a staff token; a dashboard at /dashboard.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.common_settings = common
    app.state.clock = the_clock
    app.state.observer = observer
    app.include_router(kpis.router)
    add_health_routes(app)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(OSError)
    async def unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # The database is down or restarting: try again, nothing is wrong with the request.
        if (
            isinstance(exc, DBAPIError)
            and not exc.connection_invalidated
            and not isinstance(exc, (OperationalError, InterfaceError))
        ):
            raise exc
        return JSONResponse({"detail": "database unavailable, retry"}, status_code=503)

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"))

    async def refresh_funnel(request: Request) -> None:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            # The counters are still worth a scrape while the database is down.
            with contextlib.suppress(OperationalError, InterfaceError, OSError):
                await observer.refresh(
                    runtime.sessions, the_clock.now(), settings.gauge_refresh_seconds
                )

    # The shared figures (HTTP, consumers, pool) and metrics' own, under one /metrics.
    add_metrics(app, extra=[observer.registry], before_scrape=refresh_funnel)

    return app

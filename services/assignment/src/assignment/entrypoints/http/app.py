"""The assignment app: roster, routing and prospects over HTTP, the funnel's consumers, and the
accountability timers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

import assignment
from assignment.config import AssignmentSettings
from assignment.entrypoints import amqp
from assignment.entrypoints.http import prospects, roster
from assignment.service_layer import allocation, handlers
from assignment.service_layer.unit_of_work import AssignmentUnitOfWork
from shared.clock import Clock, service_clock
from shared.http import add_health_routes, limit_body
from shared.messaging.topology import Topology
from shared.observability import add_metrics
from shared.runtime import Runtime, run_service
from shared.timers import Handler, Timer, TimerRunner

ALEMBIC_INI = Path(assignment.__file__).resolve().parents[2] / "alembic.ini"


def create_app(
    settings: AssignmentSettings | None = None,
    *,
    topology: Topology | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or AssignmentSettings()
    common = settings.common
    topology = topology or Topology(common.namespace, common.delivery_limit)
    the_clock = clock or service_clock(common.clock_file)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def uow_factory() -> AssignmentUnitOfWork:
            return AssignmentUnitOfWork(
                app.state.runtime.sessions, on_commit=app.state.runtime.wake_relay
            )

        def subscribe(runtime: Runtime) -> list[str]:
            app.state.runtime = runtime
            return amqp.register(runtime, uow_factory, the_clock)

        def timed(handler: handlers.TimerHandler) -> Handler[AssignmentUnitOfWork]:
            async def run(timer: Timer, uow: AssignmentUnitOfWork) -> None:
                await handler(uow, timer, the_clock.now())

            return run

        async def lock_dealership(timer: Timer, uow: AssignmentUnitOfWork) -> None:
            # The dealership first, then the timer: the order of every request and consumer
            # (a prospect won under the dealership's lock cancels its timers).
            await uow.repo.lock_dealership(timer.tenant_id, timer.payload["dealership_id"])

        async with run_service(
            "assignment", settings, alembic_ini=ALEMBIC_INI, topology=topology, subscribe=subscribe
        ) as runtime:
            timer_runner = TimerRunner(
                runtime.engine,
                uow_factory,
                {
                    allocation.SLA_TIMER: timed(handlers.on_sla_due),
                    allocation.HOT_TIMER: timed(handlers.on_hot_due),
                    allocation.ROTATE_TIMER: timed(handlers.on_rotate_due),
                    allocation.DRAIN_TIMER: timed(handlers.on_drain_due),
                },
                the_clock,
                max_sleep=settings.timer_max_sleep_seconds,
                lock=lock_dealership,
            )
            app.state.settings = settings
            app.state.common_settings = common
            app.state.uow_factory = uow_factory
            app.state.clock = the_clock
            app.state.timers = timer_runner
            if settings.run_timers:
                runtime.background(timer_runner.run())
            try:
                yield
            finally:
                timer_runner.stop()

    app = FastAPI(
        title="Forecourt assignment",
        version="0.1.0",
        description="Prospects to consultants: roster, routing rules, presence, caps; "
        "accountability timers; won or lost with a coded reason.",
        lifespan=lifespan,
    )
    app.include_router(roster.router)
    app.include_router(prospects.router)
    add_health_routes(app)
    add_metrics(app)
    return limit_body(app, settings.max_body_bytes)  # 413 past ASSIGNMENT_MAX_BODY_BYTES

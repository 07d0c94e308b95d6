"""The crm-queue app: agents' and managers' HTTP API, the lead consumers, the SLA timers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

from fastapi import FastAPI

import crm_queue
from crm_queue.config import CrmQueueSettings
from crm_queue.entrypoints import amqp
from crm_queue.entrypoints.http import routes
from crm_queue.service_layer import handlers
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared.clock import Clock, service_clock
from shared.http import add_health_routes
from shared.messaging.topology import Topology
from shared.observability import add_metrics
from shared.runtime import Runtime, run_service
from shared.timers import Timer, TimerRunner

ALEMBIC_INI = Path(crm_queue.__file__).resolve().parents[2] / "alembic.ini"


def create_app(
    settings: CrmQueueSettings | None = None,
    *,
    topology: Topology | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or CrmQueueSettings()
    common = settings.common
    topology = topology or Topology(common.namespace, common.delivery_limit)
    the_clock = clock or service_clock(common.clock_file)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def uow_factory() -> CrmUnitOfWork:
            return CrmUnitOfWork(app.state.runtime.sessions, on_commit=app.state.runtime.wake_relay)

        def subscribe(runtime: Runtime) -> list[str]:
            app.state.runtime = runtime
            return amqp.register(
                runtime, uow_factory, the_clock, max_batch=min(settings.max_batch, common.prefetch)
            )

        async def sla_due(timer: Timer, uow: CrmUnitOfWork) -> None:
            await handlers.on_sla_due(uow, timer, the_clock.now())

        async def pool_due(timer: Timer, uow: CrmUnitOfWork) -> None:
            await handlers.on_pool_due(uow, timer, the_clock.now())

        async def lock_task(timer: Timer, uow: CrmUnitOfWork) -> None:
            # The task first, then its timer: the order of every request and consumer.
            await uow.repo.lock_task(timer.tenant_id, UUID(timer.key))

        async with run_service(
            "crm-queue", settings, alembic_ini=ALEMBIC_INI, topology=topology, subscribe=subscribe
        ) as runtime:
            timer_runner = TimerRunner(
                runtime.engine,
                uow_factory,
                {handlers.SLA_TIMER: sla_due, handlers.POOL_TIMER: pool_due},
                the_clock,
                max_sleep=settings.timer_max_sleep_seconds,
                lock=lock_task,
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
        title="Forecourt crm-queue",
        version="0.1.0",
        description="The CRM department's first contact: SLA timers, attempts, qualify or lose "
        "with a coded reason.",
        lifespan=lifespan,
    )
    app.include_router(routes.router)
    add_health_routes(app)
    add_metrics(app)
    return app

"""What every service runs: its database (migrated at start), its broker, its outbox relay,
its consumers and background loops, started and stopped in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiormq.exceptions import ProbableAuthenticationError
from faststream.rabbit import RabbitBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import create_engine, migrate, session_factory
from shared.http import APP_FACTORY_ENV, harden, server_options
from shared.messaging.broker import create_broker
from shared.messaging.declare import declare_topology
from shared.messaging.outage import is_outage, outage_backoff, queue_not_up
from shared.messaging.slots import limit_handlers
from shared.messaging.topology import Topology
from shared.observability import MULTIPROC_ENV, watch_pool
from shared.outbox import OutboxRelay, RelayThread
from shared.relay_process import RelayProcess
from shared.settings import ServiceSettings, UnsafeSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: ServiceSettings
    topology: Topology
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: RabbitBroker
    relay: OutboxRelay
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    relay_runner: RelayThread | RelayProcess | None = None  # None: the relay runs in this loop

    def wake_relay(self) -> None:
        """After a commit that wrote outbox rows (other replicas hear the NOTIFY)."""
        if self.relay_runner is not None:
            self.relay_runner.wake()
        else:
            self.relay.wake()

    def background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self.tasks.append(asyncio.create_task(coroutine))

    async def health(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"down: {type(exc).__name__}"
        checks["broker"] = "ok" if await self.broker.ping(timeout=2) else "down"
        return checks


async def until_reachable(
    what: str,
    name: str,
    attempt: Callable[[], Awaitable[None]],
    on_failure: Callable[[], Awaitable[None]] | None = None,
    *,
    transient: Callable[[BaseException], bool] = is_outage,
) -> None:
    """Run `attempt` until it does not fail for an outage (`transient`, by default
    `shared.messaging.outage.is_outage`).

    A replica started while the broker or its database is down (restarting, or not up yet
    after a reboot) waits for it, as an orchestrator's restarts would, instead of exiting:
    0.25 s, 0.5 s, 1 s, then every 2 s, each failure logged. Anything else (a refused login,
    a topology or a migration that does not fit) is a fault of the deployment: it raises.
    """
    tries = 0
    while True:
        try:
            await attempt()
        except Exception as exc:
            if isinstance(exc, ProbableAuthenticationError) or not transient(exc):
                raise
            pause = outage_backoff(tries)
            tries += 1
            log.warning(
                "%s: %s unreachable (%s: %s), try %d; retrying in %.1fs",
                name,
                what,
                type(exc).__name__,
                exc,
                tries,
                pause,
            )
            if on_failure is not None:
                with contextlib.suppress(Exception):
                    await on_failure()
            await asyncio.sleep(pause)
        else:
            if tries:
                log.warning("%s: %s reached after %d failed tries", name, what, tries)
            return


async def connect_broker(
    broker: RabbitBroker, topology: Topology, queues: list[str], *, name: str
) -> None:
    """Connect, declare the topology and start the consumers, all again if the broker goes
    away in the middle (what a failed try left half open is dropped first, including a link
    closed during the handshake: chaos, a recovery replica exited with code 3 on it), or
    answers that a queue is not up yet (a node that restarted, still recovering its quorum
    queues)."""

    async def attempt() -> None:
        await broker.connect()
        await declare_topology(broker, topology, queues)
        await broker.start()

    await until_reachable(
        "broker",
        name,
        attempt,
        on_failure=broker.stop,
        transient=lambda exc: is_outage(exc) or queue_not_up(exc),
    )


@contextlib.asynccontextmanager
async def run_service(
    name: str,
    settings: ServiceSettings,
    *,
    alembic_ini: Path,
    topology: Topology,
    subscribe: Callable[[Runtime], list[str]],
) -> AsyncIterator[Runtime]:
    """Migrate, connect, declare, subscribe (`subscribe` returns its queue names, which get
    their dead-letter queues), start the relay; on exit stop everything in reverse."""
    await until_reachable("database", name, lambda: migrate(alembic_ini, settings.database_url))
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    watch_pool(engine)
    broker = create_broker(settings.common, app_id=name)
    # Consumers never wait on the pool (whose timeout is an error): on a slot (shared.messaging.
    # slots). The overflow stays for HTTP requests and timers.
    limit_handlers(broker, settings.db_pool_size)
    relay = OutboxRelay(
        engine,
        settings.common.amqp_url,
        topology,
        batch_size=settings.outbox_batch_size,
        poll_seconds=settings.outbox_poll_seconds,
    )  # used directly in "loop" mode, and by tests that drain the outbox by hand
    runtime = Runtime(settings, topology, engine, session_factory(engine), broker, relay)
    queues = subscribe(runtime)
    await connect_broker(broker, topology, queues, name=name)
    options: dict[str, Any] = {
        "batch_size": settings.outbox_batch_size,
        "poll_seconds": settings.outbox_poll_seconds,
    }
    if settings.run_relay and settings.relay_mode == "thread":
        runtime.relay_runner = RelayThread(
            settings.database_url, settings.common.amqp_url, topology, **options
        )
    elif settings.run_relay and settings.relay_mode == "process":
        runtime.relay_runner = RelayProcess(
            settings.database_url,
            settings.common.amqp_url,
            topology,
            log_level=settings.common.log_level,
            **options,
        )
    elif settings.run_relay:
        runtime.background(relay.run())
    if runtime.relay_runner is not None:
        await asyncio.to_thread(runtime.relay_runner.start)
    try:
        yield runtime
    finally:
        if runtime.relay_runner is not None:
            await asyncio.to_thread(runtime.relay_runner.stop)
        relay.stop()
        for task in runtime.tasks:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        await relay.close()
        await broker.stop()
        await engine.dispose()


def serve(create_app: Callable[[Any], Any], settings: ServiceSettings, factory: str) -> None:
    """A service's `main()`: logging, then uvicorn on the app (which migrates at start).

    `factory` is `create_app`'s import path: with `<SERVICE>_WORKERS` above 1, each worker
    process imports it and builds its own app from the environment.
    """
    import uvicorn

    # Before anything listens: a service outside development refuses a known or weak key.
    try:
        settings.common.check_safe()
    except UnsafeSettings as exc:
        raise SystemExit(f"refusing to start: {exc}") from None
    logging.basicConfig(
        level=settings.common.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    options: dict[str, Any] = {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_level": settings.common.log_level.lower(),
        "proxy_headers": True,
        **server_options(),  # request head limits
    }
    # Every service gets the request limits (431, 408) and the 503 of a database outage.
    if settings.workers > 1:
        os.environ[APP_FACTORY_ENV] = factory  # each worker builds its own app from it
        # Each worker (a fresh interpreter) writes its Prometheus figures there, and the one
        # answering /metrics adds up all of them (`shared.observability`).
        if not os.environ.get(MULTIPROC_ENV):
            os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="forecourt-prometheus-")
        # A worker that is still importing when uvicorn first checks on it (5 s by default; a
        # service imports in 5-20 s on a busy 2-core machine) was killed and restarted for ever.
        uvicorn.run(
            "shared.http:hardened_app",
            factory=True,
            workers=settings.workers,
            timeout_worker_healthcheck=60,
            **options,
        )
    else:
        uvicorn.run(harden(create_app(settings)), **options)

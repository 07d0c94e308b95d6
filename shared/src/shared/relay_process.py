"""The outbox relay in a child process of the service (`<SERVICE>_RELAY_MODE=process`).

A relay thread shares the service's GIL: measured on intake's bulk path, the service process
sat at ~0.8 of a core with the relay a third of it, while the machine's second core idled. In a
process of its own the relay runs beside the service instead of taking turns with it. It needs
no signal from the service: every commit that writes outbox rows also sends a NOTIFY, which the
relay hears on its own LISTEN connection. It stops on SIGTERM or SIGINT, and by itself when its
parent goes away (a `kill -9` of the service leaves no orphan publishing behind it): a watchdog
thread, not a task of the relay's event loop, notices within 0.2 s even while the loop is busy,
asks the relay to stop, and ends the process if it has not stopped a second later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import uvloop

from shared import observability
from shared.messaging.topology import Topology

log = logging.getLogger(__name__)


class RelayProcess:
    def __init__(
        self,
        database_url: str,
        amqp_url: str,
        topology: Topology,
        *,
        log_level: str = "INFO",
        **options: Any,
    ) -> None:
        # spawn, not fork: the parent's event loop, connections and threads must not be copied.
        context = multiprocessing.get_context("spawn")
        # The child's publishes, for this process's /metrics (`shared.observability`).
        published = context.Value("q", 0)
        observability.watch_relay(published)
        self._process = context.Process(
            target=_main,
            args=(
                database_url,
                amqp_url,
                topology.namespace,
                topology.delivery_limit,
                options,
                log_level,
                os.getpid(),
                published,
            ),
            name="outbox-relay",
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()

    def wake(self) -> None:
        """Nothing to do: the relay hears the commit's NOTIFY."""

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        if self._process.pid is None:
            return
        self._process.terminate()  # SIGTERM: finish the batch in hand, then exit
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


def _main(
    database_url: str,
    amqp_url: str,
    namespace: str,
    delivery_limit: int,
    options: dict[str, Any],
    log_level: str,
    parent_pid: int,
    published: Any = None,
) -> None:
    observability.set_relay_sink(published)
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[relay] %(message)s"
    )
    topology = Topology(namespace, delivery_limit)
    exited = threading.Event()
    try:
        uvloop.run(_run(database_url, amqp_url, topology, options, parent_pid, exited))
    finally:
        exited.set()


def watch_parent(
    parent_pid: int,
    stop: Callable[[], object],
    exited: threading.Event,
    *,
    interval: float = 0.2,
    grace: float = 1.0,
) -> threading.Thread:
    """Once this process is orphaned (its parent `parent_pid` died, even by SIGKILL), call `stop`,
    and end the process if `exited` is not set within `grace` seconds.

    A thread: the watchdog this replaces was a task of the relay's own event loop, and under
    load (a long batch, a loop hogged by CPU) the orphan outlived its service by ~18 s. Not
    PR_SET_PDEATHSIG: it fires when the parent *thread* that started the child ends, and the
    service starts its relay from an executor thread. Ending the process without cleanup is
    safe: the claim's transaction rolls back with its connection, and rows published but not yet
    marked are published again (consumers de-duplicate by event id).
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            if exited.wait(interval):
                return
        log.warning("the service went away; the relay stops")
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: it is ending
            stop()
        if not exited.wait(grace):
            log.warning("the relay did not stop within %.1f s; ending the process", grace)
            os._exit(1)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


async def _run(
    database_url: str,
    amqp_url: str,
    topology: Topology,
    options: dict[str, Any],
    parent_pid: int,
    exited: threading.Event,
) -> None:
    from shared.outbox import standalone_relay

    async with standalone_relay(database_url, amqp_url, topology, **options) as relay:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, relay.stop)
        watch_parent(parent_pid, lambda: loop.call_soon_threadsafe(relay.stop), exited)
        await relay.run()

"""The outbox relay in a child process of the service (`<SERVICE>_RELAY_MODE=process`).

A relay thread shares the service's GIL: measured on intake's bulk path, the service process
sat at ~0.8 of a core with the relay a third of it, while the machine's second core idled. In a
process of its own the relay runs beside the service instead of taking turns with it. It needs
no signal from the service: every commit that writes outbox rows also sends a NOTIFY, which the
relay hears on its own LISTEN connection. It stops on SIGTERM or SIGINT, and by itself when its
parent goes away (a `kill -9` of the service leaves no orphan publishing behind it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from typing import Any

import uvloop

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
            ),
            name="outbox-relay",
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()

    def wake(self) -> None:
        """Nothing to do: the relay hears the commit's NOTIFY."""

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
) -> None:
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[relay] %(message)s"
    )
    topology = Topology(namespace, delivery_limit)
    uvloop.run(_run(database_url, amqp_url, topology, options, parent_pid))


async def _run(
    database_url: str,
    amqp_url: str,
    topology: Topology,
    options: dict[str, Any],
    parent_pid: int,
) -> None:
    from shared.outbox import standalone_relay

    async with standalone_relay(database_url, amqp_url, topology, **options) as relay:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, relay.stop)

        async def orphaned() -> None:
            while True:
                await asyncio.sleep(1.0)
                if os.getppid() != parent_pid:
                    break
            log.warning("the service went away; the relay stops")
            relay.stop()

        watchdog = asyncio.create_task(orphaned())
        try:
            await relay.run()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

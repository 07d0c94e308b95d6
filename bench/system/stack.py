"""The five services of the catalogue as processes of their own (bench/common's starter), each on
a fresh database, all on one namespace of the shared broker; their meters; their names to clean."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench.common import cleanup
from bench.common.meters import CpuMeter, RssSampler
from bench.common.service import ServiceProcess
from bench.crm_queue.events import QueueWatcher
from scripts.catalogue import SERVICES, Service, declared_queues
from shared.messaging.topology import Topology

# Five services importing and migrating at once on a loaded 2-core machine take a while.
START_WAIT_S = 600.0


@dataclass
class Stack:
    run_id: str
    amqp_url: str
    pg_admin_dsn: str
    jwt_secret: str
    services: tuple[Service, ...] = SERVICES
    running: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return f"bench{self.run_id}."

    def database(self, service: Service) -> str:
        return f"bench_sys_{self.run_id}_{service.package}"

    def databases(self) -> list[str]:
        return [self.database(s) for s in self.services]

    def dsn(self, name: str) -> str:
        """asyncpg DSN of service `name`'s database."""
        (service,) = (s for s in self.services if s.name == name)
        return cleanup.database_url(self.pg_admin_dsn, self.database(service))

    def queues(self) -> set[str]:
        """Every queue the services declare in the run's namespace (with .dlq and unrouted)."""
        return declared_queues(Topology(self.namespace), list(self.services))

    def url(self, name: str) -> str:
        return self.running[name].base_url

    async def start(self, say: Any) -> dict[str, float]:
        """Start every service at once; seconds from launch to /healthz per service."""
        launched = time.monotonic()
        for service in self.services:
            url = self.dsn(service.name).replace("postgresql://", "postgresql+asyncpg://", 1)
            self.running[service.name] = ServiceProcess.start_as(
                service.name,
                service.env_prefix.rstrip("_"),
                database_url=url,
                amqp_url=self.amqp_url,
                namespace=self.namespace,
                jwt_secret=self.jwt_secret,
            )
        say("starting " + ", ".join(f"{n} (pid {p.popen.pid})" for n, p in self.running.items()))
        healthy: dict[str, float] = {}

        async def wait(name: str, process: ServiceProcess) -> None:
            await process.wait_healthy(START_WAIT_S)
            healthy[name] = round(time.monotonic() - launched, 2)

        await asyncio.gather(*(wait(n, p) for n, p in self.running.items()))
        return healthy

    def stop(self) -> None:
        for process in self.running.values():
            process.stop()

    def alive(self) -> list[str]:
        """Services that exited: a run with one of them gone is not a figure."""
        return [n for n, p in self.running.items() if p.popen.poll() is not None]

    def log_counts(self) -> dict[str, Any]:
        return {name: process.log_counts() for name, process in self.running.items()}

    async def dead_letters(self) -> dict[str, int]:
        """Messages waiting in each non-empty dead-letter queue of the namespace."""
        watcher = QueueWatcher(self.amqp_url, "")
        await watcher.open()
        found: dict[str, int] = {}
        try:
            for queue in sorted(q for q in self.queues() if q.endswith(".dlq")):
                depth = await watcher.depth(queue)
                if depth is not None and depth.messages:
                    found[queue.removeprefix(self.namespace)] = depth.messages
        finally:
            await watcher.close()
        return found


class Meters:
    """Peak RSS per service and phase, and CPU cores used per phase by each service and the
    rest of the machine (bench/common's meters, several services at once)."""

    def __init__(self, stack: Stack, results: dict[str, Any]) -> None:
        processes = {n: p.python_process() for n, p in stack.running.items()}
        self.rss = {n: RssSampler(p) for n, p in processes.items()}
        self.cpu = CpuMeter(services={n: p.pid for n, p in processes.items()})
        self.cores: dict[str, dict[str, float]] = results.setdefault("cpu_cores", {})
        results["rss_peak_mib"] = {n: sampler.peaks_mib for n, sampler in self.rss.items()}
        self._current: str | None = None
        for sampler in self.rss.values():
            sampler.start()

    def phase(self, name: str | None) -> dict[str, float] | None:
        """End the current phase (returns its cores) and start `name`, if any."""
        ended = None
        if self._current is not None:
            ended = self.cpu.stop()
            self.cores[self._current] = ended
        self._current = name
        if name is not None:
            for sampler in self.rss.values():
                sampler.phase(name)
            self.cpu.start()
        return ended

    async def stop(self) -> None:
        self.phase(None)
        for sampler in self.rss.values():
            await sampler.stop()


async def count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()

"""The system under test, all private to one run: a RabbitMQ node, a PostgreSQL cluster, the
proxies the services reach them through, and every service of the catalogue in replicas.

`up()` builds it; everything it builds is registered with the run's `Cleanup`, which removes it
whatever happens. `heal_all()` puts every fault right (the runs call it after each fault and
before the drain). A supervisor restarts a replica that exits by itself, and notes it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from forecourt_chaos.adapters import broker
from forecourt_chaos.adapters.cleanup import Cleanup
from forecourt_chaos.adapters.databases import READERS, Reader
from forecourt_chaos.adapters.postgres import PrivateCluster
from forecourt_chaos.adapters.proxies import Proxies, Route
from forecourt_chaos.adapters.rabbit import PrivateRabbit
from forecourt_chaos.adapters.services import Exit, Replica, Service, select
from shared.messaging.topology import Topology

AMQP, POSTGRES = "amqp", "postgres"
# intake processes a payload a crash left pending after this; the default (60 s) would
# make every drain wait a minute for payloads whose client long since resent them.
SERVICE_DEFAULTS: dict[str, dict[str, str]] = {"intake": {"INTAKE_STALE_RAW_SECONDS": "15"}}


@dataclass(frozen=True)
class StackConfig:
    services: list[str] | None = None  # catalogue names; None: every service
    replicas: int = 2
    pg_version: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # more settings for every replica


@dataclass
class Peaks:
    """Peak RSS (MiB) of each replica (service, relay and worker processes together)."""

    by_replica: dict[str, float] = field(default_factory=dict)

    def add(self, replica: Replica) -> None:
        rss = replica.memory_mib()
        self.by_replica[replica.name] = max(self.by_replica.get(replica.name, 0.0), rss)

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, mib in self.by_replica.items():
            service = name.rsplit("-", 1)[0]
            out[service] = max(out.get(service, 0.0), mib)
        return out


class Stack:
    def __init__(self, cleanup: Cleanup, config: StackConfig, say: Callable[[str], None]) -> None:
        self.cleanup = cleanup
        self.config = config
        self.say = say
        self.services: list[Service] = select(config.services)
        tag = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.rabbit = PrivateRabbit(cleanup, f"fcchaos-{tag}")
        self.pg = PrivateCluster(cleanup, f"fcchaos_{tag.replace('-', '_')}", config.pg_version)
        self.proxies = Proxies([Route(AMQP, self.rabbit.port), Route(POSTGRES, self.pg.port)])
        self.topology = Topology("")
        self.jwt_secret = secrets.token_urlsafe(48)
        self.replicas: list[Replica] = []
        self.exits: list[Exit] = []
        self.peaks = Peaks()
        self._tasks: list[asyncio.Task[None]] = []
        self._restarting: set[str] = set()
        self.t0 = time.monotonic()

    # -- building -------------------------------------------------------------------------

    async def up(self) -> None:
        started = time.monotonic()
        self.say(f"private PostgreSQL cluster {self.pg.name} on :{self.pg.port}")
        self.say(f"private RabbitMQ node {self.rabbit.node} on :{self.rabbit.port}")
        self.rabbit.start()
        # The proxies know their targets' ports already: they start while the targets boot.
        self.cleanup.push("proxies", self.proxies.stop)
        proxies = asyncio.create_task(self.proxies.start())
        await self.pg.create()
        await self.pg.start()
        await self.pg.wait_ready()
        self.say(f"  PostgreSQL ready after {time.monotonic() - started:.0f}s")
        await self.rabbit.wait_ready()
        self.say(f"  RabbitMQ ready after {time.monotonic() - started:.0f}s")
        await proxies
        self._make_replicas()
        self.cleanup.push("service replicas", self.stop_replicas)
        for replica in self.replicas:
            replica.start()
        await self.wait_healthy(self.replicas)
        self.say(f"  services healthy after {time.monotonic() - started:.0f}s")
        await broker.declare_audit(self.rabbit.amqp_url, self.topology)
        self._tasks.append(asyncio.create_task(self._supervise()))
        self._tasks.append(asyncio.create_task(self._sample_memory()))
        names = ", ".join(f"{s.name} x{self.config.replicas}" for s in self.services)
        self.say(f"up in {time.monotonic() - started:.0f}s: {names}")

    def _make_replicas(self) -> None:
        amqp_url = f"amqp://guest:guest@127.0.0.1:{self.proxies.ports[AMQP]}/"
        common = {
            "FORECOURT_NAMESPACE": "",  # the node is ours alone
            "FORECOURT_JWT_SECRET": self.jwt_secret,
            "FORECOURT_LOG_LEVEL": "WARNING",
        } | self.cleanup.marker
        for service in self.services:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.proxies.ports[POSTGRES]}/"
            env = common | SERVICE_DEFAULTS.get(service.name, {}) | self.config.env
            for index in range(1, self.config.replicas + 1):
                self.replicas.append(
                    Replica.make(
                        service,
                        index,
                        services=self.services,
                        database_url=url + service.package,
                        amqp_url=amqp_url,
                        common=env,
                        logs=self.cleanup.workdir / "services",
                    )
                )

    async def wait_healthy(self, replicas: list[Replica], wait_s: float = 180.0) -> None:
        """Until every replica answers /healthz. One that exits meanwhile is noted (an exit by
        itself is a finding) and started again."""
        started = time.monotonic()
        deadline = started + wait_s
        pending = list(replicas)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while pending:
                if time.monotonic() > deadline:
                    names = ", ".join(r.name for r in pending)
                    raise RuntimeError(f"not healthy after {wait_s:.0f}s: {names}")
                for replica in list(pending):
                    exit_ = replica.exited()
                    if exit_ is not None:
                        self._note_exit(exit_, "at start")
                        replica.start()
                    elif await replica.healthy(http):
                        pending.remove(replica)
                        self.say(f"  {replica.name} healthy in {time.monotonic() - started:.0f}s")
                await asyncio.sleep(0.5)

    def _note_exit(self, exit_: Exit, when: str) -> None:
        exit_.when = when
        exit_.at = round(exit_.at - self.t0, 1)  # seconds since the stack began
        self.exits.append(exit_)
        self.say(f"[red]{exit_.replica} exited by itself {when} (code {exit_.code})[/red]")

    def stop_replicas(self) -> None:
        for task in self._tasks:
            task.cancel()
        for replica in self.replicas:
            replica.terminate()
        deadline = time.monotonic() + 3.0  # the run is over: no graceful drain to wait out
        for replica in self.replicas:
            replica.stop(deadline)

    # -- looking at it ----------------------------------------------------------------------

    def of(self, service: str) -> list[Replica]:
        return [r for r in self.replicas if r.service.name == service]

    def urls(self, service: str) -> list[str]:
        return [r.base_url for r in self.of(service)]

    def database_dsn(self, service: Service) -> str:
        """Straight to the cluster, not through the proxy the services use."""
        return self.pg.dsn(service.package)

    def readers(self) -> list[tuple[Service, Reader | None]]:
        return [(s, READERS.get(s.name)) for s in self.services]

    async def connect(self, service: Service) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_dsn(service), timeout=10)

    # -- keeping it running ---------------------------------------------------------------

    async def restart(self, replica: Replica, delay: float = 0.0) -> None:
        self._restarting.add(replica.name)
        try:
            await asyncio.sleep(delay)
            replica.start()
        finally:
            self._restarting.discard(replica.name)

    async def _supervise(self) -> None:
        """A replica that exits by itself is noted and restarted, as an orchestrator would."""
        while True:
            await asyncio.sleep(1.0)
            for replica in self.replicas:
                if replica.name in self._restarting:
                    continue
                exit_ = replica.exited()
                if exit_ is not None:
                    self._note_exit(exit_, "while running")
                    await self.restart(replica, 1.0)

    async def _sample_memory(self) -> None:
        while True:
            for replica in self.replicas:
                self.peaks.add(replica)
            await asyncio.sleep(1.0)

    async def heal_all(self) -> list[str]:
        """Undo whatever fault may be left; returns what had to be put right."""
        fixed = []
        for name in (AMQP, POSTGRES):
            await self.proxies.heal(name)
        if not self.rabbit.vm_running():
            fixed.append("broker restarted")
            self.rabbit.start()
        elif not await self.rabbit.answers():
            fixed.append("broker app started")
            await self.rabbit.start_app()
        await self.rabbit.wait_ready()
        try:
            await self.pg.wait_ready(2.0)
        except TimeoutError:
            # Slow to answer on a loaded machine is not down: starting a running cluster fails.
            if not await self.pg.running():
                fixed.append("postgres started")
                await self.pg.start()
            await self.pg.wait_ready()
        for replica in self.replicas:
            if not replica.running() and replica.name not in self._restarting:
                fixed.append(f"{replica.name} started")
                replica.start()
        return fixed

    async def queue_depths(self) -> dict[str, int]:
        return await self.rabbit.queues()

"""What a chaos run and a soak share: the stack, the tenants, the load's parts, the result."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from forecourt_chaos import repo
from forecourt_chaos.adapters.broker import RawPublisher
from forecourt_chaos.adapters.cleanup import Cleanup
from forecourt_chaos.adapters.services import Exit
from forecourt_chaos.domain.accounting import Accounting
from forecourt_chaos.domain.plan import DEFAULT_MIX, Plan
from forecourt_chaos.domain.trend import Trend
from forecourt_chaos.service_layer.agent import Agent
from forecourt_chaos.service_layer.injector import FaultRecord
from forecourt_chaos.service_layer.load import Sender, Tally
from forecourt_chaos.service_layer.observe import (
    Drain,
    Readback,
    drain,
    read_back,
)
from forecourt_chaos.service_layer.stack import Stack, StackConfig

repo.importable()
from bench.intake.service import Tenant, create_tenant  # noqa: E402

Say = Callable[[str], None]


@dataclass(frozen=True)
class LoadConfig:
    leads: int = 1000
    rate: float = 20.0  # leads per second, at most
    tenants: int = 10
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    repeat_ratio: float = 0.1
    in_flight: int = 64
    lead_deadline_s: float = 120.0  # retries of one lead stop here: indeterminate
    attempt_s: float = 10.0
    # Share of the leads a CRM agent qualifies or writes off meanwhile (work for assignment,
    # recovery and metrics); 0: none.
    work_ratio: float = 0.05


@dataclass
class Result:
    run_id: str
    seed: int
    accounting: Accounting
    tally: Tally
    drain: Drain
    readback: Readback
    peaks_mib: dict[str, float]
    exits: list[Exit]
    phases_s: dict[str, float]
    faults: list[FaultRecord] = field(default_factory=list)
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    planned: int = 0
    baseline_s: float | None = None  # a probe lead end to end before any fault
    harness_errors: dict[str, int] = field(default_factory=dict)  # sends that raised
    worked: int = 0  # tasks the CRM agent qualified or wrote off (as it was answered)
    private: dict[str, str] = field(default_factory=dict)  # what the run made for itself

    @property
    def passed(self) -> bool:
        return (
            self.accounting.passed
            and self.drain.complete
            and not any(t.growing for t in self.trends)
        )


class Session:
    """One run's stack, tenants and load, shared by chaos and soak."""

    def __init__(
        self, cleanup: Cleanup, stack_config: StackConfig, load: LoadConfig, seed: int, say: Say
    ) -> None:
        self.run_id = f"r{seed}-{secrets.token_hex(2)}"
        self.seed = seed
        self.load = load
        self.say = say
        self.stack = Stack(cleanup, stack_config, say)
        self.tenants: dict[str, Tenant] = {}
        self.t0 = time.monotonic()
        self.phases: dict[str, float] = {}

    def private(self) -> dict[str, str]:
        return {
            "workdir": str(self.stack.cleanup.workdir),
            "rabbitmq_node": self.stack.rabbit.node,
            "postgres_cluster": f"{self.stack.pg.version}/{self.stack.pg.name}",
        }

    def mark(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.phases[phase] = round(now - since, 1)
        return now

    async def up(self) -> None:
        await self.stack.up()
        url = self.stack.urls("intake")[0]
        names = [f"chaos-{i:02d}" for i in range(self.load.tenants)]
        made = await asyncio.gather(
            *(create_tenant(url, self.stack.jwt_secret, name) for name in names)
        )
        self.tenants = {t.name: t for t in made}
        self.say(f"{len(made)} tenants, each a dealership and a lead source")

    def plan(self) -> Plan:
        return Plan(
            self.seed,
            self.run_id,
            list(self.tenants),
            mix=self.load.mix,
            repeat_ratio=self.load.repeat_ratio,
        )

    def sender(self, http: aiohttp.ClientSession, publisher: RawPublisher) -> Sender:
        return Sender(
            http,
            lambda: self.stack.urls("intake"),
            self.tenants,
            publisher,
            deadline_s=self.load.lead_deadline_s,
            attempt_s=self.load.attempt_s,
        )

    def agent(self, http: aiohttp.ClientSession, tally: Tally, leads: int) -> Agent | None:
        """The CRM agent, when crm-queue runs; it works `work_ratio` of `leads` at most."""
        limit = int(leads * self.load.work_ratio)
        if limit <= 0 or not any(s.name == "crm-queue" for s in self.stack.services):
            return None
        return Agent(
            http,
            lambda: self.stack.urls("crm-queue"),
            list(self.tenants.values()),
            self.stack.jwt_secret,
            self.seed,
            limit=limit,
            tally=tally,
            attempt_s=self.load.attempt_s,
        )

    def publisher(self) -> RawPublisher:
        return RawPublisher(self.stack.rabbit.amqp_url, self.stack.topology.intake_raw_queue_name)

    async def finish(self, drain_wait_s: float, since: float) -> tuple[Drain, Readback, float]:
        fixed = await self.stack.heal_all()
        if fixed:
            self.say(f"put right before the drain: {', '.join(fixed)}")
        self.say("draining")
        drained = await drain(self.stack, drain_wait_s, say=self.say)
        since = self.mark("drain", since)
        readback = await read_back(self.stack)
        return drained, readback, self.mark("read back", since)


async def ticker(show: Callable[[], None]) -> None:
    while True:
        show()
        await asyncio.sleep(0.5)

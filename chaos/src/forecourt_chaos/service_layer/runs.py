"""`forecourt chaos` and `forecourt soak`: the stack up, tenants made, the load and (for chaos)
the faults, the drain, the read-back and the accounting."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from forecourt_chaos import repo
from forecourt_chaos.adapters import broker
from forecourt_chaos.adapters.broker import RawPublisher
from forecourt_chaos.adapters.cleanup import Cleanup
from forecourt_chaos.adapters.databases import outbox_backlog
from forecourt_chaos.adapters.services import Exit
from forecourt_chaos.domain.accounting import Accounting, account
from forecourt_chaos.domain.faults import FaultKind, Timing
from forecourt_chaos.domain.plan import DEFAULT_MIX, Plan
from forecourt_chaos.domain.trend import Trend, trend
from forecourt_chaos.service_layer.injector import FaultRecord, Injector
from forecourt_chaos.service_layer.load import Generator, Progress, Sender, Tally
from forecourt_chaos.service_layer.observe import (
    Drain,
    Readback,
    drain,
    is_work_queue,
    read_back,
)
from forecourt_chaos.service_layer.probe import Prober
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


@dataclass(frozen=True)
class ChaosConfig:
    seed: int
    minutes: float = 5.0  # the load and fault phase ends here at the latest
    max_faults: int = 20
    kinds: tuple[FaultKind, ...] = tuple(FaultKind)
    timing: Timing = field(default_factory=Timing)
    recovery_wait_s: float = 120.0
    drain_wait_s: float = 180.0
    load: LoadConfig = field(default_factory=LoadConfig)
    stack: StackConfig = field(default_factory=StackConfig)


@dataclass(frozen=True)
class SoakLimits:
    """Growth per minute over the second half above which a soak fails."""

    rss_mib: float = 2.0
    open_files: float = 2.0
    queued: float = 20.0
    outbox: float = 20.0


@dataclass(frozen=True)
class SoakConfig:
    seed: int
    minutes: float = 60.0
    sample_s: float = 30.0
    limits: SoakLimits = field(default_factory=SoakLimits)
    drain_wait_s: float = 180.0
    load: LoadConfig = field(default_factory=lambda: LoadConfig(leads=0))  # 0: rate x minutes
    stack: StackConfig = field(default_factory=StackConfig)


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


async def _ticker(show: Callable[[], None]) -> None:
    while True:
        show()
        await asyncio.sleep(0.5)


async def run_chaos(
    config: ChaosConfig,
    cleanup: Cleanup,
    say: Say,
    show: Callable[[Progress, int], None],
) -> Result:
    session = Session(cleanup, config.stack, config.load, config.seed, say)
    await session.up()
    since = session.mark("setup", session.t0)
    plan = session.plan()
    publisher = session.publisher()
    connector = aiohttp.TCPConnector(limit=config.load.in_flight * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        sender = session.sender(http, publisher)
        generator = Generator(sender, config.load.rate, config.load.in_flight)
        end = time.monotonic() + config.minutes * 60
        prober = Prober(session.stack, sender, plan, list(session.tenants), config.seed)
        # One lead end to end before anything else: the pipeline is warm (relay processes
        # take a while to start), and the baseline the recoveries compare with.
        warm = await prober.probe(config.recovery_wait_s)
        say(f"baseline: a probe lead reached every service in {warm.seconds}s {warm.error or ''}")
        injector = Injector(
            session.stack,
            prober,
            seed=config.seed,
            kinds=config.kinds,
            timing=config.timing,
            recovery_wait_s=config.recovery_wait_s,
            t0=since,
            say=say,
        )

        def over() -> bool:
            return time.monotonic() > end

        ticker = asyncio.create_task(
            _ticker(lambda: show(generator.progress, len(injector.records)))
        )
        try:
            await asyncio.gather(
                generator.run(plan.batches(config.load.leads), over),
                injector.run(config.max_faults, over),
            )
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await publisher.close()
        show(generator.progress, len(injector.records))
    since = session.mark("load and faults", since)
    drained, readback, _ = await session.finish(config.drain_wait_s, since)
    return Result(
        run_id=session.run_id,
        seed=config.seed,
        accounting=account(generator.sent + prober.sent, readback.observed),
        tally=sender.tally,
        drain=drained,
        readback=readback,
        peaks_mib=session.stack.peaks.by_service(),
        exits=session.stack.exits,
        phases_s=session.phases,
        faults=injector.records,
        baseline_s=warm.seconds,
        harness_errors=dict(generator.errors),
        planned=generator.progress.planned,
        private=session.private(),
    )


async def _sample(stack: Stack, queues: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for service in stack.services:
        replicas = stack.of(service.name)
        values[f"{service.name} RSS MiB"] = round(sum(r.memory_mib() for r in replicas), 1)
        values[f"{service.name} open files"] = float(sum(r.open_files() for r in replicas))
        conn = await stack.connect(service)
        try:
            values[f"{service.name} outbox backlog"] = float(await outbox_backlog(conn))
        finally:
            await conn.close()
    # Ready messages of the work queues over AMQP: a rabbitmqctl call costs seconds of CPU.
    depths = await broker.ready_counts(stack.rabbit.amqp_url, queues)
    values["queued messages"] = float(sum(depths.values()))
    return values


def _limit(metric: str, limits: SoakLimits) -> float:
    if metric.endswith("RSS MiB"):
        return limits.rss_mib
    if metric.endswith("open files"):
        return limits.open_files
    if metric.endswith("outbox backlog"):
        return limits.outbox
    return limits.queued


async def run_soak(
    config: SoakConfig,
    cleanup: Cleanup,
    say: Say,
    show: Callable[[Progress, int], None],
) -> Result:
    session = Session(cleanup, config.stack, config.load, config.seed, say)
    await session.up()
    since = session.mark("setup", session.t0)
    leads = config.load.leads or int(config.load.rate * config.minutes * 60)
    plan = session.plan()
    publisher = session.publisher()
    samples: list[tuple[float, dict[str, float]]] = []
    end = time.monotonic() + config.minutes * 60

    async def sampler() -> None:
        queues = [n for n in await session.stack.queue_depths() if is_work_queue(n, session.stack)]
        first = time.monotonic()
        for n in itertools.count(1):
            values = await _sample(session.stack, queues)
            samples.append((round(time.monotonic() - first, 1), values))
            shown = ", ".join(f"{k} {v:g}" for k, v in values.items())
            say(f"sample at {samples[-1][0]:.0f}s: {shown}")
            await asyncio.sleep(max(first + n * config.sample_s - time.monotonic(), 0.0))

    connector = aiohttp.TCPConnector(limit=config.load.in_flight * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        sender = session.sender(http, publisher)
        prober = Prober(session.stack, sender, plan, list(session.tenants), config.seed)
        warm = await prober.probe(config.drain_wait_s)
        say(f"baseline: a probe lead reached every service in {warm.seconds}s {warm.error or ''}")
        generator = Generator(sender, config.load.rate, config.load.in_flight)
        tasks = [
            asyncio.create_task(sampler()),
            asyncio.create_task(_ticker(lambda: show(generator.progress, 0))),
        ]
        try:
            await generator.run(plan.batches(leads), lambda: time.monotonic() > end)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await publisher.close()
    since = session.mark("load", since)
    drained, readback, _ = await session.finish(config.drain_wait_s, since)
    metrics = sorted({k for _, values in samples for k in values})
    trends = [
        trend(m, [(t, v[m]) for t, v in samples if m in v], _limit(m, config.limits))
        for m in metrics
    ]
    return Result(
        run_id=session.run_id,
        seed=config.seed,
        accounting=account(generator.sent + prober.sent, readback.observed),
        tally=sender.tally,
        drain=drained,
        readback=readback,
        peaks_mib=session.stack.peaks.by_service(),
        exits=session.stack.exits,
        phases_s=session.phases,
        samples=samples,
        trends=trends,
        baseline_s=warm.seconds,
        harness_errors=dict(generator.errors),
        planned=generator.progress.planned,
        private=session.private(),
    )

"""`forecourt soak`: the stack up, a steady load without faults while memory, open files, queue
depth and outbox backlog are sampled; then the drain, the accounting and the growth verdicts."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from forecourt_chaos.adapters import broker
from forecourt_chaos.adapters.cleanup import Cleanup
from forecourt_chaos.adapters.databases import outbox_backlog
from forecourt_chaos.domain.accounting import account
from forecourt_chaos.domain.trend import trend
from forecourt_chaos.service_layer.load import Generator, Progress
from forecourt_chaos.service_layer.observe import (
    is_work_queue,
)
from forecourt_chaos.service_layer.probe import Prober
from forecourt_chaos.service_layer.session import LoadConfig, Result, Say, Session, ticker
from forecourt_chaos.service_layer.stack import Stack, StackConfig


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

    sampler_errors: Counter[str] = Counter()

    async def sampler() -> None:
        # A sample that fails is said and counted, and the next one is taken all the same: a
        # sampler that died quietly left a soak without a single sample (and so "no growth").
        queues: list[str] | None = None
        first = time.monotonic()
        for n in itertools.count(1):
            try:
                if queues is None:
                    depths = await session.stack.queue_depths()
                    queues = [q for q in depths if is_work_queue(q, session.stack)]
                values = await _sample(session.stack, queues)
            except Exception as exc:
                sampler_errors[f"sampler {type(exc).__name__}"] += 1
                say(f"sample {n} failed: {type(exc).__name__}: {exc}")
            else:
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
            asyncio.create_task(ticker(lambda: show(generator.progress, 0))),
        ]
        agent = session.agent(http, sender.tally, leads)
        loading = asyncio.ensure_future(
            generator.run(plan.batches(leads), lambda: time.monotonic() > end)
        )
        if agent is not None:
            tasks.append(asyncio.create_task(agent.run(loading.done)))
        try:
            await loading
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
        harness_errors=dict(generator.errors + sampler_errors),
        planned=generator.progress.planned,
        private=session.private(),
        worked=agent.worked if agent else 0,
    )

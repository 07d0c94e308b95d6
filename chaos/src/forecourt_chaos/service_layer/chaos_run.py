"""`forecourt chaos`: the stack up, the load and the faults together, then the drain, the
read-back and the accounting."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from forecourt_chaos.adapters.cleanup import Cleanup
from forecourt_chaos.domain.accounting import account
from forecourt_chaos.domain.faults import FaultKind, Timing
from forecourt_chaos.service_layer.injector import Injector
from forecourt_chaos.service_layer.load import Generator, Progress
from forecourt_chaos.service_layer.probe import Prober
from forecourt_chaos.service_layer.session import LoadConfig, Result, Say, Session, ticker
from forecourt_chaos.service_layer.stack import StackConfig


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

        ticking = asyncio.create_task(
            ticker(lambda: show(generator.progress, len(injector.records)))
        )
        agent = session.agent(http, sender.tally, config.load.leads)
        main = asyncio.ensure_future(
            asyncio.gather(
                generator.run(plan.batches(config.load.leads), over),
                injector.run(config.max_faults, over),
            )
        )
        working = asyncio.create_task(agent.run(lambda: over() or main.done())) if agent else None
        try:
            await main
            if working is not None:
                await working
        finally:
            if working is not None and not working.done():
                working.cancel()
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
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
        worked=agent.worked if agent else 0,
    )

"""One run: the broker's raw ceiling; the five services started; a dealer group set up in
intake; a warm-up; leads at a steady rate (POST → task visible in crm-queue's queue); then leads
as fast as intake takes them (leads/s through the funnel); always cleaned up."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.common import defaults, runs
from bench.common.report import progress, run_meta
from bench.intake.data import Person, people
from bench.intake.json_path import Sent, client, closed_loop, open_loop
from bench.intake.service import Tenant, create_tenant
from bench.system import funnel, load, report
from bench.system.stack import Meters, Stack

WARM_UP = 20


@dataclass(frozen=True)
class BenchConfig:
    amqp_url: str = defaults.AMQP_URL
    pg_admin_dsn: str = defaults.PG_ADMIN_DSN
    rate: float = 50.0  # leads/s of the steady phase
    steady_leads: int = 1_000  # 0: no steady phase
    sample_every: int = 5  # every n-th steady lead is watched for in GET /v1/queue
    poll_ms: float = 20.0
    leads: int = 2_000  # the saturation phase (0: none)
    concurrency: int = 16
    dealerships: int = 10  # the leads not watched for are spread over these
    raw_messages: int = 5_000
    phase_timeout: float = 900.0
    results_dir: Path = Path(__file__).resolve().parents[1] / "results"


@dataclass
class Run:
    config: BenchConfig
    console: Console
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    jwt_secret: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    # time.time() - time.monotonic(): the services' wall-clock times against the bench's
    wall_offset: float = dataclasses.field(default_factory=lambda: time.time() - time.monotonic())

    def __post_init__(self) -> None:
        cfg = self.config
        self.stack = Stack(self.run_id, cfg.amqp_url, cfg.pg_admin_dsn, self.jwt_secret)
        self._people = people(self.run_id, 0)

    @property
    def tenant(self) -> str:
        return f"bench-{self.run_id}"

    def people(self, n: int) -> list[Person]:
        return [next(self._people) for _ in range(n)]

    def alive(self) -> bool:
        return not self.stack.alive()


@dataclass(frozen=True)
class Group:
    """The dealer group in intake: its source's key, the shared dealerships, and one of its own
    for each lead the steady phase watches for."""

    tenant: Tenant
    shared: list[str]
    watched: list[str]


async def set_up(run: Run) -> Group:
    cfg = run.config
    intake = run.stack.url("intake")
    tenant = await create_tenant(intake, run.jwt_secret, run.tenant)
    watched = math.ceil(cfg.steady_leads / cfg.sample_every) if cfg.steady_leads else 0
    started = time.monotonic()
    more = await load.add_dealerships(
        intake, run.jwt_secret, run.tenant, cfg.dealerships - 1 + watched
    )
    run.console.print(
        f"dealer group {run.tenant}: {len(more) + 1} dealerships in "
        f"{time.monotonic() - started:.1f} s"
    )
    shared = [tenant.dealership_id, *more[: cfg.dealerships - 1]]
    return Group(tenant, shared, more[cfg.dealerships - 1 :])


async def reach(
    run: Run, track: funnel.Funnel, target: Callable[[], int], what: str, into: Any = None
) -> funnel.Progress:
    """Until crm-queue has `target()` tasks and metrics counted as many leads."""
    with progress(run.console) as bars:
        bar = bars.add_task(what, total=None)
        found = await track.follow(
            target,
            alive=run.alive,
            on_point=lambda p: bars.update(bar, completed=min(p.tasks, p.counted), total=target()),
            wait_s=run.config.phase_timeout,
            into=into,
        )
    if found.outcome != "done":
        last = found.points[-1] if found.points else None
        raise RuntimeError(
            f"{what}: {found.outcome} at {last}, expected {target()}; exited: {run.stack.alive()}"
        )
    return found


def _cpu_per_lead(cores: dict[str, float] | None, services: Sequence[str], leads: int) -> Any:
    """ms of CPU per lead for each service over the phase."""
    if not cores or leads <= 0:
        return {}
    return {s: round(cores.get(f"{s}_cpu_s", 0.0) / leads * 1000, 2) for s in services}


def _http(sent: Sequence[Sent]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for s in sent:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    start, end = min(s.sent for s in sent), max(s.done for s in sent)
    accepted = sum(1 for s in sent if s.status == 202)
    last_sent = max(s.sent for s in sent)
    return {
        "requests": len(sent),
        "accepted": accepted,
        "statuses": statuses,
        "posted_per_s": round((len(sent) - 1) / (last_sent - start), 1)
        if last_sent > start
        else None,
        "accepted_per_s": round(accepted / (end - start), 1) if end > start else None,
    }


async def warm_up(run: Run, group: Group, track: funnel.Funnel) -> None:
    """A few leads through the whole path before anything is measured."""
    payloads = load.bodies(run.people(WARM_UP), group.shared, seed=1)
    async with client(run.stack.url("intake"), group.tenant.api_key, 4) as http:
        await closed_loop(http, payloads, 4)
    await reach(run, track, lambda: WARM_UP, "warm-up: tasks and counts")


async def steady(run: Run, group: Group, track: funnel.Funnel, meters: Meters) -> dict[str, Any]:
    cfg = run.config
    base = await track.point()
    n = cfg.steady_leads
    watched = {i: group.watched[i // cfg.sample_every] for i in range(0, n, cfg.sample_every)}
    targets = [watched.get(i, group.shared[i % len(group.shared)]) for i in range(n)]
    payloads = load.bodies(run.people(n), targets, seed=2)
    watch = load.QueueWatch(
        run.stack.url("crm-queue"), run.jwt_secret, run.tenant, cfg.poll_ms / 1000
    )
    done = asyncio.Event()
    watcher = asyncio.create_task(watch.run(done))

    def on_send(i: int) -> None:
        if i in watched:
            watch.watch(watched[i])

    meters.phase("steady")
    try:
        with progress(run.console) as bars:
            bar = bars.add_task(f"POST /v1/leads at {cfg.rate:g}/s", total=n)
            async with client(run.stack.url("intake"), group.tenant.api_key, 64) as http:
                sent = await open_loop(
                    http, payloads, cfg.rate, lambda: bars.advance(bar), on_send=on_send
                )
        accepted = sum(1 for s in sent if s.status == 202)
        found = await reach(run, track, lambda: base.tasks + accepted, "steady: tasks and counts")
    finally:
        done.set()
        await watcher
    cores = meters.phase(None)
    start = min(s.sent for s in sent)
    out = {
        "offered_per_s": cfg.rate,
        "leads": n,
        "http": _http(sent),
        "queue": load.visibility(watch, {watched[i]: sent[i] for i in watched}),
        "stages": await funnel.stages(
            run.stack.dsn("intake"), run.stack.dsn("crm-queue"), sent, run.wall_offset
        ),
        "funnel": funnel.rates(found, start, base, accepted),
        "cpu_ms_per_lead": _cpu_per_lead(cores, list(run.stack.running), accepted),
    }
    return out


async def saturate(run: Run, group: Group, track: funnel.Funnel, meters: Meters) -> dict[str, Any]:
    cfg = run.config
    base = await track.point()
    payloads = load.bodies(run.people(cfg.leads), group.shared, seed=3)
    accepted: list[int] = []  # set once posting is over

    def target() -> int:
        return base.tasks + (accepted[0] if accepted else cfg.leads)

    found = funnel.Progress()
    meters.phase("saturation")

    async def post_all() -> list[Sent]:
        async with client(run.stack.url("intake"), group.tenant.api_key, cfg.concurrency) as http:
            sent = await closed_loop(http, payloads, cfg.concurrency)
        accepted.append(sum(1 for s in sent if s.status == 202))
        return sent

    run.console.print(f"saturation: {cfg.leads:,} leads, {cfg.concurrency} in flight")
    posting = asyncio.create_task(post_all())
    try:
        await reach(run, track, target, "saturation: tasks and counts", into=found)
    finally:
        sent = await posting
    cores = meters.phase(None)
    start = min(s.sent for s in sent)
    return {
        "leads": cfg.leads,
        "concurrency": cfg.concurrency,
        "http": _http(sent),
        "funnel": funnel.rates(found, start, base, accepted[0]),
        "stages": await funnel.stages(
            run.stack.dsn("intake"), run.stack.dsn("crm-queue"), sent, run.wall_offset
        ),
        "cpu_ms_per_lead": _cpu_per_lead(cores, list(run.stack.running), accepted[0]),
    }


async def phases(run: Run) -> None:
    cfg = run.config
    if cfg.raw_messages > 0:
        run.results["raw"] = await runs.raw_ceiling(
            amqp_url=cfg.amqp_url,
            namespace=run.stack.namespace,
            messages=cfg.raw_messages,
            console=run.console,
        )
    run.results["healthy_after_s"] = await run.stack.start(run.console.print)
    group = await set_up(run)
    async with AsyncExitStack() as stack:
        track = funnel.Funnel(run.stack.dsn("crm-queue"), run.stack.dsn("metrics"))
        await track.open()
        stack.push_async_callback(track.close)
        meters = Meters(run.stack, run.results)
        stack.push_async_callback(meters.stop)
        await warm_up(run, group, track)
        if cfg.steady_leads > 0:
            run.results["steady"] = await steady(run, group, track, meters)
        if cfg.leads > 0:
            run.results["saturation"] = await saturate(run, group, track, meters)
    run.results["dead_letters"] = await run.stack.dead_letters()
    run.results["logs"] = run.stack.log_counts()


async def run(config: BenchConfig, console: Console) -> Path:
    bench = Run(config, console)
    bench.results["meta"] = run_meta(bench.run_id, config)
    try:
        async with runs.cleaned_up(
            stop=bench.stack.stop,
            pg_admin_dsn=config.pg_admin_dsn,
            database=bench.stack.databases(),
            amqp_url=config.amqp_url,
            namespace=bench.stack.namespace,
            console=console,
            queues=bench.stack.queues(),
        ):
            await phases(bench)
    finally:
        bench.results["meta"]["finished_at"] = datetime.now(UTC).isoformat()
        path = report.write(bench.results, config.results_dir)
        try:
            report.show(bench.results, console)
        except Exception as exc:  # a partial run: the JSON file has what there is
            console.print(f"cannot tabulate these results: {exc!r}")
        console.print(f"figures written to {path}")
    return path

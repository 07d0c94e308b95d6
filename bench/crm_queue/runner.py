"""One run: crm-queue started once and stopped, a backlog published, crm-queue restarted and
timed as it drains it, then latency at a steady rate; always cleaned up."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console

from bench.common import cleanup, defaults
from bench.common.meters import CpuMeter, RssSampler
from bench.common.report import progress, run_meta
from bench.crm_queue import backlog, latency, report
from bench.crm_queue.events import Event, Publisher, QueueWatcher, lead_ingested
from bench.crm_queue.service import (
    CrmQueueProcess,
    expected_queues,
    ingested_queue,
    staff_headers,
)
from bench.intake import raw
from shared.messaging.topology import Topology

SERVICE = "crm-queue"


@dataclass(frozen=True)
class BenchConfig:
    amqp_url: str = defaults.AMQP_URL
    pg_admin_dsn: str = defaults.PG_ADMIN_DSN
    backlog: int = 100_000
    dealerships: int = 20
    in_flight: int = 500
    backlog_timeout: float = 1800.0
    latency_leads: int = 300
    rate: float = 20.0
    poll_ms: float = 5.0
    sample_every: int = 10
    raw_messages: int = 10_000  # the raw broker ceiling's messages (0: not measured)
    results_dir: Path = Path(__file__).resolve().parents[1] / "results"


@dataclass
class Run:
    config: BenchConfig
    console: Console
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    jwt_secret: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    service: CrmQueueProcess | None = None

    @property
    def namespace(self) -> str:
        return f"bench{self.run_id}."

    @property
    def database(self) -> str:
        return f"bench_crm_{self.run_id}"

    @property
    def tenant(self) -> str:
        return f"bench-{self.run_id}"

    @property
    def dsn(self) -> str:
        return cleanup.database_url(self.config.pg_admin_dsn, self.database)

    def start_service(self) -> CrmQueueProcess:
        assert self.service is None or self.service.popen.poll() is not None
        self.service = CrmQueueProcess.start(
            database_url=self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            amqp_url=self.config.amqp_url,
            namespace=self.namespace,
            jwt_secret=self.jwt_secret,
        )
        return self.service

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


class Meters:
    """The service's peak RSS per phase, and CPU cores used per phase by everyone."""

    def __init__(self, run: Run, service: CrmQueueProcess) -> None:
        process = service.python_process()
        self.pid = process.pid
        self.rss = RssSampler(process)
        self.cpu = CpuMeter(process.pid, SERVICE)
        self.cores: dict[str, dict[str, float]] = run.results.setdefault("cpu_cores", {})
        run.results["rss_peak_mib"] = self.rss.peaks_mib
        self._current: str | None = None
        self.rss.start()

    def phase(self, name: str | None) -> dict[str, float] | None:
        """End the current phase (returns its cores) and start `name`, if any. A phase under
        a second is not kept: the meter's own process scan would dominate its figures."""
        ended = None
        if self._current is not None:
            ended = self.cpu.stop()
            if ended["seconds"] >= 1.0:
                self.cores[self._current] = ended
        self._current = name
        if name is not None:
            self.rss.phase(name)
            self.cpu.start()
        return ended

    async def stop(self) -> None:
        self.phase(None)
        await self.rss.stop()


def _dealership(index: int, count: int) -> str:
    return f"bench-d{index % count:02d}"


async def declare_once(run: Run) -> dict[str, Any]:
    """Start crm-queue so that it migrates its database and declares its queues; stop it."""
    launched = time.monotonic()
    service = run.start_service()
    run.console.print(f"crm-queue (first start, pid {service.popen.pid}) ...")
    await service.wait_healthy()
    healthy = time.monotonic()
    run.stop_service()
    return {"launch_to_healthy_s": round(healthy - launched, 2)}


async def publish_backlog(run: Run, publisher: Publisher, watcher: QueueWatcher) -> dict[str, Any]:
    cfg = run.config
    depth = await watcher.depth()
    if depth is None:
        raise RuntimeError(f"crm-queue did not declare {watcher.queue}")
    with progress(run.console) as bars:
        built = bars.add_task("building lead.ingested", total=cfg.backlog)
        events: list[Event] = []
        started = time.monotonic()
        for i in range(cfg.backlog):
            events.append(lead_ingested(i, run.run_id, run.tenant, _dealership(i, cfg.dealerships)))
            if i % 1000 == 999:
                bars.advance(built, 1000)
        bars.update(built, completed=cfg.backlog)
        build_s = time.monotonic() - started
        sent = bars.add_task("publishing (crm-queue down)", total=cfg.backlog)
        started = time.monotonic()
        confirmed = await publisher.publish_all(events, cfg.in_flight, lambda: bars.advance(sent))
        publish_s = time.monotonic() - started
    ready = await watcher.wait_for(depth.messages + confirmed, 60.0)
    return {
        "events": confirmed,
        "dealerships": cfg.dealerships,
        "in_flight": cfg.in_flight,
        "body_bytes": len(events[0].body) if events else 0,
        "build_s": round(build_s, 2),
        "publish_s": round(publish_s, 2),
        "published_per_s": round(confirmed / publish_s, 1) if publish_s else None,
        "ready_before_start": ready.messages if ready else None,
        "consumers_before_start": ready.consumers if ready else None,
    }


async def drain_backlog(
    run: Run, db: asyncpg.Connection, watcher: QueueWatcher, out: dict[str, Any]
) -> Meters:
    """Restart crm-queue and time it through the backlog; then until the outbox is empty."""
    cfg = run.config
    total = out["events"]
    launched = time.monotonic()
    service = run.start_service()
    await service.wait_healthy()
    healthy = time.monotonic()
    meters = Meters(run, service)
    run.console.print(
        f"crm-queue restarted (python pid {meters.pid}), healthy after "
        f"{healthy - launched:.1f} s; draining {total:,} events"
    )
    meters.phase("backlog")
    with progress(run.console) as bars:
        tasks = bars.add_task("tasks created", total=total)
        drain = await backlog.drain(
            db,
            watcher,
            total,
            alive=lambda: service.popen.poll() is None,
            on_sample=lambda s: bars.update(tasks, completed=min(s.tasks, total)),
            wait_s=cfg.backlog_timeout,
        )
    cores = meters.phase("outbox catch-up") or {}
    if drain.outcome == "done":
        caught_up = await backlog.outbox_caught_up(db, watcher, drain, wait_s=600.0)
        if caught_up is None:
            run.console.print("[yellow]the outbox still had pending rows after 600 s[/]")
    meters.phase(None)
    summary = backlog.summarise(drain, total, launched, healthy)
    out["drain"] = summary
    consumed = total - summary["tasks_at_healthy"]
    cpu_s = cores.get(f"{SERVICE}_cpu_s")
    if cpu_s and consumed > 0 and drain.outcome == "done":
        out["crm_cpu_ms_per_task"] = round(cpu_s / consumed * 1000, 2)
        out["one_core_tasks_per_s"] = round(consumed / cpu_s, 1)
    dlq = await watcher.depth(Topology(run.namespace).dead_letter_queue_name(watcher.queue))
    out["dlq_ready"] = dlq.messages if dlq else None
    out["log"] = service.log_counts()
    if drain.outcome != "done":
        raise RuntimeError(
            f"backlog {drain.outcome}: {summary['tasks_created']:,} of {total:,} tasks\n"
            f"{service.log_tail()}"
        )
    return meters


async def measure_latency(
    run: Run, publisher: Publisher, meters: Meters, first_index: int
) -> dict[str, Any]:
    cfg = run.config
    assert run.service is not None
    await asyncio.sleep(2.0)  # let the service settle after the backlog
    main = "bench-latency"
    sampled = {i: f"bench-latency-q{i:04d}" for i in range(0, cfg.latency_leads, cfg.sample_every)}
    manager = staff_headers(run.jwt_secret, "manager", run.tenant, [main, *sampled.values()])
    agents = {
        d: staff_headers(run.jwt_secret, "agent", run.tenant, [d], subject=f"agent-{d}")
        for d in sampled.values()
    }
    plan = latency.Plan(
        count=cfg.latency_leads,
        rate=cfg.rate,
        poll_s=cfg.poll_ms / 1000,
        sample_every=cfg.sample_every,
    )
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=run.service.base_url, timeout=30.0, limits=limits
    ) as http:
        observer = latency.Observer(http, publisher, manager, agents, plan)
        warm = 10  # through the whole path, not counted
        for i in range(warm):
            event = lead_ingested(first_index + i, run.run_id, run.tenant, main)
            await observer.observe(event, sampled=False)

        def build(i: int) -> Event:
            dealership = sampled.get(i, main)
            return lead_ingested(first_index + warm + i, run.run_id, run.tenant, dealership)

        meters.phase("latency")
        with progress(run.console) as bars:
            done = bars.add_task(f"lead.ingested at {cfg.rate:g}/s", total=cfg.latency_leads)
            seen, achieved = await latency.steady(observer, build, lambda: bars.advance(done))
        meters.phase(None)
    return latency.summarise(seen, plan, achieved)


async def raw_ceiling(run: Run) -> dict[str, Any]:
    """The broker's ceiling on this machine now (bench/intake's: plain aio-pika, confirms,
    quorum queue): crm-queue's tasks/s is compared with it, as intake's rows/s is."""
    queue = f"{run.namespace}raw-ceiling"
    run.console.print(f"raw broker ceiling: {run.config.raw_messages:,} messages")
    try:
        found = await raw.broker_ceiling(run.config.amqp_url, queue, run.config.raw_messages)
    finally:
        await cleanup.delete_broker_names(run.config.amqp_url, run.namespace, [queue])
    return {"broker": dataclasses.asdict(found)}


async def phases(run: Run) -> None:
    cfg = run.config
    if cfg.raw_messages > 0:
        run.results["raw"] = await raw_ceiling(run)
    run.results["first_start"] = await declare_once(run)
    async with AsyncExitStack() as stack:
        watcher = QueueWatcher(cfg.amqp_url, ingested_queue(run.namespace))
        await watcher.open()
        stack.push_async_callback(watcher.close)
        publisher = Publisher(cfg.amqp_url, Topology(run.namespace).events_exchange_name)
        await publisher.open()
        stack.push_async_callback(publisher.close)
        db = await asyncpg.connect(run.dsn)
        stack.push_async_callback(db.close)
        out = run.results["backlog"] = await publish_backlog(run, publisher, watcher)
        meters = await drain_backlog(run, db, watcher, out)
        stack.push_async_callback(meters.stop)
        if cfg.latency_leads > 0:
            run.results["latency"] = await measure_latency(run, publisher, meters, cfg.backlog)
        run.results["log"] = run.service.log_counts() if run.service else {}


@asynccontextmanager
async def cleaned_up(run: Run) -> AsyncIterator[None]:
    """Whatever happens: stop crm-queue, drop its database, delete the namespace's queues and
    exchanges (quorum queues too, full or not)."""
    cfg = run.config
    try:
        yield
    finally:
        try:
            run.stop_service()
        finally:
            try:
                await cleanup.drop_databases(cfg.pg_admin_dsn, [run.database])
            finally:
                queues, exchanges = await cleanup.delete_broker_names(
                    cfg.amqp_url, run.namespace, expected_queues(run.namespace)
                )
                run.console.print(
                    f"cleaned up: database {run.database}, namespace {run.namespace!r} "
                    f"({queues} queues, {exchanges} exchanges)"
                )


async def run(config: BenchConfig, console: Console) -> Path:
    bench = Run(config, console)
    bench.results["meta"] = run_meta(bench.run_id, config)
    try:
        async with cleaned_up(bench):
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

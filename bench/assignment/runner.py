"""One run: the broker's ceiling, assignment started once (migrates, declares) and stopped, the
roster written into its tables, a backlog of `lead.qualified` published while it is down, then
assignment restarted and timed until every qualification is a prospect; its fairness."""

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
import psutil
from rich.console import Console

from bench.assignment import report, roster
from bench.common import cleanup, defaults, runs
from bench.common.meters import CpuMeter, RssSampler
from bench.common.report import progress, run_meta
from bench.common.service import ServiceProcess
from bench.common.stats import by_fifth
from bench.crm_queue.events import Publisher, QueueWatcher
from shared.messaging.topology import Topology

SERVICE = "assignment"
# A loaded machine can take minutes to import and migrate a service.
START_WAIT_S = 600.0
LEAD_QUALIFIED = "lead.qualified.v1"


@dataclass(frozen=True)
class BenchConfig:
    amqp_url: str = defaults.AMQP_URL
    pg_admin_dsn: str = defaults.PG_ADMIN_DSN
    backlog: int = 50_000
    dealerships: int = 40
    consultants: int = 400
    cap: int = 1_000  # open prospects per consultant: above the backlog's share, none waits
    in_flight: int = 500
    raw_messages: int = 10_000
    backlog_timeout: float = 3600.0
    results_dir: Path = Path(__file__).resolve().parents[1] / "results"


class AssignmentProcess(ServiceProcess):
    SERVICE = SERVICE
    ENV_PREFIX = "ASSIGNMENT"


@dataclass
class Run:
    config: BenchConfig
    console: Console
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    jwt_secret: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    service: AssignmentProcess | None = None

    @property
    def namespace(self) -> str:
        return f"bench{self.run_id}."

    @property
    def database(self) -> str:
        return f"bench_assignment_{self.run_id}"

    @property
    def tenant(self) -> str:
        return f"bench-{self.run_id}"

    @property
    def dsn(self) -> str:
        return cleanup.database_url(self.config.pg_admin_dsn, self.database)

    def start(self) -> AssignmentProcess:
        self.service = AssignmentProcess.start(
            database_url=self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            amqp_url=self.config.amqp_url,
            namespace=self.namespace,
            jwt_secret=self.jwt_secret,
        )
        return self.service

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


@asynccontextmanager
async def cleaned_up(run: Run) -> AsyncIterator[None]:
    async with runs.cleaned_up(
        stop=run.stop,
        pg_admin_dsn=run.config.pg_admin_dsn,
        database=run.database,
        amqp_url=run.config.amqp_url,
        namespace=run.namespace,
        console=run.console,
    ):
        yield


async def raw_ceiling(run: Run) -> dict[str, Any]:
    return await runs.raw_ceiling(
        amqp_url=run.config.amqp_url,
        namespace=run.namespace,
        messages=run.config.raw_messages,
        console=run.console,
    )


async def publish_backlog(run: Run, watcher: QueueWatcher) -> dict[str, Any]:
    cfg = run.config
    events = [
        roster.lead_qualified(i, run.run_id, run.tenant, cfg.dealerships)
        for i in range(cfg.backlog)
    ]
    publisher = Publisher(cfg.amqp_url, Topology(run.namespace).events_exchange_name)
    await publisher.open()
    try:
        with progress(run.console) as bars:
            task = bars.add_task("publishing lead.qualified (assignment down)", total=len(events))
            started = time.monotonic()
            confirmed = await publisher.publish_all(
                events, cfg.in_flight, lambda: bars.advance(task)
            )
            seconds = time.monotonic() - started
    finally:
        await publisher.close()
    ready = await watcher.wait_for(confirmed, 60.0)
    return {
        "events": confirmed,
        "published_per_s": round(confirmed / seconds, 1) if seconds else None,
        "ready_before_start": ready.messages if ready else None,
    }


async def drain(run: Run, db: asyncpg.Connection, total: int) -> dict[str, Any]:
    cfg = run.config
    launched = time.monotonic()
    service = run.start()
    await service.wait_healthy(START_WAIT_S)
    healthy = time.monotonic()
    process = psutil.Process(service.popen.pid)  # the script is the Python process
    rss = RssSampler(process)
    rss.start()
    run.results["rss_peak_mib"] = rss.peaks_mib
    cpu = CpuMeter(process.pid, SERVICE)
    rss.phase("backlog")
    cpu.start()
    samples: list[tuple[float, int]] = []
    done_at = None
    try:
        with progress(run.console) as bars:
            task = bars.add_task("prospects (qualifications handled)", total=total)
            while time.monotonic() < launched + cfg.backlog_timeout:
                if service.popen.poll() is not None:
                    raise RuntimeError(f"assignment exited:\n{service.log_tail()}")
                prospects, _ = await roster.counts(db, run.tenant)
                now = time.monotonic()
                samples.append((now, prospects))
                bars.update(task, completed=prospects)
                if prospects >= total:
                    done_at = now
                    break
                await asyncio.sleep(0.5)
        cores = cpu.stop()
    finally:
        await rss.stop()
    run.results.setdefault("cpu_cores", {})["backlog"] = cores
    prospects, assigned = await roster.counts(db, run.tenant)
    at_healthy = samples[0][1] if samples else 0
    out: dict[str, Any] = {
        "prospects": prospects,
        "assigned": assigned,
        "launch_to_healthy_s": round(healthy - launched, 2),
        "prospects_at_healthy": at_healthy,
        "all_s_from_healthy": round(done_at - healthy, 2) if done_at else None,
        "per_s_by_fifth": by_fifth(samples, healthy, total),
    }
    if done_at and done_at > healthy:
        out["per_s"] = round((prospects - at_healthy) / (done_at - healthy), 1)
        out["per_s_from_launch"] = round(prospects / (done_at - launched), 1)
    spent = cores.get(f"{SERVICE}_cpu_s")
    if spent and prospects > at_healthy:
        out["cpu_ms_per_assignment"] = round(spent / (prospects - at_healthy) * 1000, 2)
    dlq = Topology(run.namespace).dead_letter_queue_name(
        Topology(run.namespace).queue_name(SERVICE, LEAD_QUALIFIED)
    )
    watcher = QueueWatcher(cfg.amqp_url, dlq)
    await watcher.open()
    try:
        depth = await watcher.depth()
        out["dlq_ready"] = depth.messages if depth else None
    finally:
        await watcher.close()
    if done_at is None:
        raise RuntimeError(f"{prospects:,} of {total:,} handled after {cfg.backlog_timeout}s")
    return out


async def phases(run: Run) -> None:
    cfg = run.config
    if cfg.raw_messages > 0:
        run.results["raw"] = await raw_ceiling(run)
    service = run.start()  # it creates and migrates its database, declares its queues
    await service.wait_healthy(START_WAIT_S)
    run.stop()
    async with AsyncExitStack() as stack:
        db = await asyncpg.connect(run.dsn)
        stack.push_async_callback(db.close)
        await roster.roster(db, run.tenant, cfg.dealerships, cfg.consultants, cfg.cap)
        watcher = QueueWatcher(
            cfg.amqp_url, Topology(run.namespace).queue_name(SERVICE, LEAD_QUALIFIED)
        )
        await watcher.open()
        stack.push_async_callback(watcher.close)
        if await watcher.depth() is None:
            raise RuntimeError(f"assignment did not declare {watcher.queue}")
        out = run.results["backlog"] = await publish_backlog(run, watcher)
        out |= {"dealerships": cfg.dealerships, "consultants": cfg.consultants, "cap": cfg.cap}
        out["drain"] = await drain(run, db, out["events"])
        out["fairness"] = await roster.fairness(db, run.tenant)


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

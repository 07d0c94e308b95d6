"""One run: the broker's ceiling; metrics started once (migrates, declares) and stopped, a
stream of events published while it is down, metrics restarted and timed projecting them; then
ten million events' worth of history written into its tables and the KPI queries timed."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from pydantic import SecretStr
from rich.console import Console

from bench.common import cleanup, defaults, runs
from bench.common.meters import CpuMeter, RssSampler
from bench.common.report import progress, run_meta
from bench.common.service import ServiceProcess
from bench.common.stats import by_fifth
from bench.crm_queue.events import Publisher, lead_ingested
from bench.metrics import queries, report, seed
from shared.auth import issue_token
from shared.messaging.topology import Topology
from shared.settings import CommonSettings

SERVICE = "metrics"
# A loaded machine can take minutes to import and migrate a service.
START_WAIT_S = 600.0


@dataclass(frozen=True)
class BenchConfig:
    amqp_url: str = defaults.AMQP_URL
    pg_admin_dsn: str = defaults.PG_ADMIN_DSN
    stream: int = 100_000  # events published for the projection's throughput
    events: int = 10_000_000  # history seeded for the queries
    dealerships: int = 40
    repeats: int = 20
    in_flight: int = 500
    raw_messages: int = 10_000
    project_timeout: float = 3600.0
    results_dir: Path = Path(__file__).resolve().parents[1] / "results"


class MetricsProcess(ServiceProcess):
    SERVICE = SERVICE
    ENV_PREFIX = "METRICS"


@dataclass
class Run:
    config: BenchConfig
    console: Console
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    jwt_secret: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    service: MetricsProcess | None = None
    rss: RssSampler | None = None  # the service's, from the projection to the end of the queries

    @property
    def namespace(self) -> str:
        return f"bench{self.run_id}."

    @property
    def database(self) -> str:
        return f"bench_metrics_{self.run_id}"

    @property
    def dsn(self) -> str:
        return cleanup.database_url(self.config.pg_admin_dsn, self.database)

    def start(self) -> MetricsProcess:
        self.service = MetricsProcess.start(
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


async def _logged(db: asyncpg.Connection, tenant: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM event_log WHERE tenant_id = $1", tenant))


async def project(run: Run, db: asyncpg.Connection) -> dict[str, Any]:
    """`stream` lead.ingested published while metrics is down, then timed as it logs and
    projects them (a row in event_log and lead_fact each, one transaction per event)."""
    cfg = run.config
    tenant = f"bench-{run.run_id}-stream"
    events = [
        lead_ingested(i, run.run_id, tenant, f"bench-d{i % cfg.dealerships:02d}")
        for i in range(cfg.stream)
    ]
    publisher = Publisher(cfg.amqp_url, Topology(run.namespace).events_exchange_name)
    await publisher.open()
    try:
        with progress(run.console) as bars:
            task = bars.add_task("publishing lead.ingested (metrics down)", total=len(events))
            started = time.monotonic()
            confirmed = await publisher.publish_all(
                events, cfg.in_flight, lambda: bars.advance(task)
            )
            publish_s = time.monotonic() - started
    finally:
        await publisher.close()
    launched = time.monotonic()
    service = run.start()
    await service.wait_healthy(START_WAIT_S)
    healthy = time.monotonic()
    process = psutil.Process(service.popen.pid)  # the script is the Python process
    rss = run.rss = RssSampler(process)
    rss.start()
    run.results["rss_peak_mib"] = rss.peaks_mib
    cpu = CpuMeter(process.pid, SERVICE)
    rss.phase("projection")
    cpu.start()
    samples: list[tuple[float, int]] = []
    done_at = None
    with progress(run.console) as bars:
        task = bars.add_task("events logged and projected", total=confirmed)
        while time.monotonic() < launched + cfg.project_timeout:
            if service.popen.poll() is not None:
                raise RuntimeError(f"metrics exited:\n{service.log_tail()}")
            n = await _logged(db, tenant)
            now = time.monotonic()
            samples.append((now, n))
            bars.update(task, completed=n)
            if n >= confirmed:
                done_at = now
                break
            await asyncio.sleep(0.5)
    cores = cpu.stop()
    run.results.setdefault("cpu_cores", {})["projection"] = cores
    at_healthy = samples[0][1] if samples else 0
    out: dict[str, Any] = {
        "events": confirmed,
        "published_per_s": round(confirmed / publish_s, 1) if publish_s else None,
        "launch_to_healthy_s": round(healthy - launched, 2),
        "projected_at_healthy": at_healthy,
        "all_s_from_healthy": round(done_at - healthy, 2) if done_at else None,
        "per_s_by_fifth": by_fifth(samples, healthy, confirmed),
        "lead_facts": int(
            await db.fetchval("SELECT count(*) FROM lead_fact WHERE tenant_id = $1", tenant)
        ),
    }
    if done_at and done_at > healthy:
        out["per_s"] = round((confirmed - at_healthy) / (done_at - healthy), 1)
    spent = cores.get(f"{SERVICE}_cpu_s")
    if spent and confirmed > at_healthy:
        out["cpu_ms_per_event"] = round(spent / (confirmed - at_healthy) * 1000, 2)
    if done_at is None:
        raise RuntimeError(f"{samples[-1][1]:,} of {confirmed:,} projected in time")
    return out


async def query_phase(run: Run, db: asyncpg.Connection) -> dict[str, Any]:
    cfg = run.config
    assert run.service is not None
    tenant = f"bench-{run.run_id}"
    with progress(run.console) as bars:
        task = bars.add_task("history (events)", total=cfg.events)
        seeded = await seed.seed(
            db,
            tenant=tenant,
            events=cfg.events,
            dealerships=cfg.dealerships,
            database_url=run.dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            on_events=lambda n: bars.advance(task, n),
        )
    settings = CommonSettings(jwt_secret=SecretStr(run.jwt_secret))
    # An admin of the tenant with no dealership list: every dealership, the widest query.
    token = issue_token(settings, subject="bench", role="admin", tenant=tenant)
    headers = {"Authorization": f"Bearer {token}"}
    if run.rss is not None:
        run.rss.phase("queries")
    meter = CpuMeter(run.service.popen.pid, SERVICE)
    meter.start()
    total = len(queries.ENDPOINTS) * len(queries.windows()) * cfg.repeats
    with progress(run.console) as bars:
        task = bars.add_task("KPI queries", total=total)
        timed = await queries.measure(
            run.service.base_url, headers, cfg.repeats, lambda: bars.advance(task)
        )
    run.results.setdefault("cpu_cores", {})["queries"] = meter.stop()
    return {"seed": seeded, "floor": await queries.floor(db, tenant, cfg.repeats), "kpis": timed}


async def phases(run: Run) -> None:
    cfg = run.config
    if cfg.raw_messages > 0:
        run.results["raw"] = await raw_ceiling(run)
    service = run.start()  # it creates and migrates its database, declares its queues
    await service.wait_healthy(START_WAIT_S)
    run.stop()
    db = await asyncpg.connect(run.dsn)
    try:
        run.results["projection"] = await project(run, db)
        run.results["queries"] = await query_phase(run, db)
    finally:
        if run.rss is not None:
            await run.rss.stop()
        await db.close()


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

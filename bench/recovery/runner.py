"""One run: recovery migrates its database (scanner off), a million schedules are written
straight into it, the bare-SQL ceiling fires a copy of the due ones, then recovery starts with
its scanner and is timed until every due run has fired and its events have left the outbox."""

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
from rich.console import Console

from bench.common import cleanup, defaults, runs
from bench.common.meters import CpuMeter, RssSampler
from bench.common.report import progress, run_meta
from bench.common.service import ServiceProcess
from bench.recovery import report, schedules

SERVICE = "recovery"
# A loaded machine can take minutes to import and migrate a service.
START_WAIT_S = 600.0


@dataclass(frozen=True)
class BenchConfig:
    amqp_url: str = defaults.AMQP_URL
    pg_admin_dsn: str = defaults.PG_ADMIN_DSN
    schedules: int = 1_000_000
    due: int = 100_000
    tenants: int = 10
    batch_size: int = 500  # RECOVERY_SCANNER_BATCH_SIZE (its default), and the ceiling's batch
    raw: bool = True
    fire_timeout: float = 3600.0
    results_dir: Path = Path(__file__).resolve().parents[1] / "results"


class RecoveryProcess(ServiceProcess):
    SERVICE = SERVICE
    ENV_PREFIX = "RECOVERY"


@dataclass
class Run:
    config: BenchConfig
    console: Console
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    jwt_secret: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    service: RecoveryProcess | None = None

    @property
    def namespace(self) -> str:
        return f"bench{self.run_id}."

    @property
    def database(self) -> str:
        return f"bench_recovery_{self.run_id}"

    @property
    def dsn(self) -> str:
        return cleanup.database_url(self.config.pg_admin_dsn, self.database)

    def start(self, scanner: bool) -> RecoveryProcess:
        self.service = RecoveryProcess.start(
            database_url=self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            amqp_url=self.config.amqp_url,
            namespace=self.namespace,
            jwt_secret=self.jwt_secret,
            env={
                "RECOVERY_RUN_SCANNER": "true" if scanner else "false",
                "RECOVERY_SCANNER_BATCH_SIZE": str(self.config.batch_size),
            },
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


async def setup(run: Run, db: asyncpg.Connection) -> float:
    """Migrate (recovery started once, scanner off), then write the schedules. Returns the
    time the due ones fell due before (their `fire_at` is a minute earlier)."""
    cfg = run.config
    now = time.time()
    with progress(run.console) as bars:
        task = bars.add_task("scheduled follow-ups (INSERT … SELECT)", total=cfg.schedules)
        seconds = await schedules.insert(
            db,
            total=cfg.schedules,
            due=cfg.due,
            tenant_prefix=f"bench-{run.run_id}-t",
            tenants=cfg.tenants,
            now=now,
            on_rows=lambda n: bars.advance(task, n),
        )
    size = await schedules.sizes(db)
    per_million = 1_000_000 / size["rows"] if size["rows"] else 0.0
    run.results["setup"] = {
        "schedules": size["rows"],
        "due": cfg.due,
        "tenants": cfg.tenants,
        "insert_s": round(seconds, 2),
        "table_bytes": size,
        "bytes_per_million": {k: round(v * per_million) for k, v in size.items() if k != "rows"},
    }
    return now


async def fire(run: Run, db: asyncpg.Connection, cutoff: float) -> dict[str, Any]:
    cfg = run.config
    before = await schedules.remaining_due(db, cutoff)
    launched = time.monotonic()
    service = run.start(scanner=True)
    await service.wait_healthy(START_WAIT_S)
    healthy = time.monotonic()
    process = psutil.Process(service.popen.pid)  # the script is the Python process
    rss = RssSampler(process)
    rss.start()
    run.results["rss_peak_mib"] = rss.peaks_mib
    cpu = CpuMeter(process.pid, SERVICE)
    rss.phase("firing")
    cpu.start()
    samples: list[tuple[float, int]] = []
    all_fired = outbox_empty = None
    try:
        with progress(run.console) as bars:
            task = bars.add_task("due follow-ups fired", total=before)
            deadline = launched + cfg.fire_timeout
            while time.monotonic() < deadline:
                if service.popen.poll() is not None:
                    raise RuntimeError(f"recovery exited:\n{service.log_tail()}")
                left = await schedules.remaining_due(db, cutoff)
                now = time.monotonic()
                samples.append((now, before - left))
                bars.update(task, completed=before - left)
                if left == 0 and all_fired is None:
                    all_fired = now
                if all_fired is not None and await schedules.outbox_pending(db) == 0:
                    outbox_empty = now
                    break
                await asyncio.sleep(0.5)
        cores = cpu.stop()
    finally:
        await rss.stop()
    run.results.setdefault("cpu_cores", {})["firing"] = cores
    fired = samples[-1][1] if samples else 0
    first = next((t for t, n in samples if n > 0), None)
    out: dict[str, Any] = {
        "due": before,
        "fired": fired,
        "launch_to_healthy_s": round(healthy - launched, 2),
        "fired_by_healthy": samples[0][1] if samples else None,
        "all_fired_s_from_launch": round(all_fired - launched, 2) if all_fired else None,
        "all_fired_s_from_healthy": round(all_fired - healthy, 2) if all_fired else None,
        "outbox_empty_s_from_launch": round(outbox_empty - launched, 2) if outbox_empty else None,
        "first_fired_s_from_launch": round(first - launched, 2) if first else None,
    }
    if all_fired and all_fired > launched:
        out["fired_per_s_from_launch"] = round(fired / (all_fired - launched), 1)
    if all_fired and first and all_fired > first:
        out["fired_per_s"] = round(fired / (all_fired - first), 1)  # first fired → last
    spent = cores.get(f"{SERVICE}_cpu_s")
    if spent and fired:
        out["cpu_ms_per_fire"] = round(spent / fired * 1000, 3)
    # The relay deletes what it published: count the runs whose step opened instead.
    out["steps_opened"] = int(
        await db.fetchval("SELECT count(*) FROM recovery WHERE steps_opened > 0")
    )
    out["fire_errors"] = int(
        await db.fetchval("SELECT count(*) FROM recovery WHERE fire_errors > 0")
    )
    if all_fired is None:
        raise RuntimeError(f"{before - fired:,} of {before:,} still due after {cfg.fire_timeout}s")
    return out


async def phases(run: Run) -> None:
    cfg = run.config
    service = run.start(scanner=False)  # it creates and migrates its database
    await service.wait_healthy(START_WAIT_S)
    run.stop()
    db = await asyncpg.connect(run.dsn)
    try:
        cutoff = await setup(run, db)
        if cfg.raw:
            meter = CpuMeter(service=SERVICE)
            meter.start()
            with progress(run.console) as bars:
                task = bars.add_task("raw ceiling: bare SQL fires a copy", total=cfg.due)
                run.results["raw"] = await schedules.raw_ceiling(
                    db, cfg.batch_size, lambda n: bars.advance(task, n)
                )
            run.results.setdefault("cpu_cores", {})["raw"] = meter.stop()
        run.results["fire"] = await fire(run, db, cutoff)
        after = await schedules.sizes(db)
        run.results["fire"]["table_bytes_after"] = after
    finally:
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

"""One run: raw ceilings, then intake as a process under JSON and bulk load; always cleaned up."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.common import defaults
from bench.common.meters import CpuMeter, RssSampler
from bench.common.report import progress as _progress
from bench.common.report import run_meta
from bench.intake import bulk_path, cleanup, json_path, raw, report
from bench.intake.data import csv_file, people
from bench.intake.probe import Probe, ProbeSpec, Seen
from bench.intake.service import IntakeProcess, Tenant, create_tenant
from shared.messaging.topology import Topology


@dataclass(frozen=True)
class BenchConfig:
    amqp_url: str = defaults.AMQP_URL
    pg_admin_dsn: str = defaults.PG_ADMIN_DSN
    raw_messages: int = 20_000
    pg_rows: int = 100_000
    json_leads: int = 5_000
    concurrency: int = 32
    steady_leads: int = 200
    steady_rate: float = 100.0
    bulk_rows: int = 100_000
    duplicate_ratio: float = 0.3
    skip_raw: bool = False
    skip_json: bool = False
    skip_bulk: bool = False
    bulk_timeout: float = 1800.0
    results_dir: Path = Path(__file__).resolve().parents[1] / "results"


@dataclass
class Run:
    config: BenchConfig
    console: Console
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    jwt_secret: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    results: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return f"bench{self.run_id}."

    def db_url(self, name: str) -> str:
        return self.config.pg_admin_dsn.rsplit("/", 1)[0] + f"/{name}"


def _meta(run: Run) -> dict[str, Any]:
    return run_meta(run.run_id, run.config)


async def raw_phase(run: Run) -> dict[str, Any]:
    cfg, out = run.config, {}
    run.console.print(f"[bold]raw ceilings[/]: {cfg.raw_messages:,} messages, {cfg.pg_rows:,} rows")
    queue = f"{run.namespace}raw-ceiling"
    db = f"bench_raw_{run.run_id}"
    try:
        out["broker"] = dataclasses.asdict(
            await raw.broker_ceiling(cfg.amqp_url, queue, cfg.raw_messages)
        )
        await cleanup.create_database(cfg.pg_admin_dsn, db)
        pg = await raw.pg_ceiling(run.db_url(db), cfg.pg_rows, max(cfg.pg_rows // 5, 1000))
        out["pg"] = dataclasses.asdict(pg)
    finally:
        await cleanup.drop_databases(cfg.pg_admin_dsn, [db])
        await cleanup.delete_broker_names(cfg.amqp_url, run.namespace, [queue])
    return out


@asynccontextmanager
async def intake_service(run: Run) -> AsyncIterator[IntakeProcess]:
    """Intake on a fresh database and namespace; stopped and cleaned up whatever happens."""
    cfg = run.config
    db = f"bench_intake_{run.run_id}"
    service = IntakeProcess.start(
        database_url=run.db_url(db).replace("postgresql://", "postgresql+asyncpg://", 1),
        amqp_url=cfg.amqp_url,
        namespace=run.namespace,
        jwt_secret=run.jwt_secret,
    )
    try:
        await service.wait_healthy()
        yield service
    finally:
        service.stop()
        await cleanup.drop_databases(cfg.pg_admin_dsn, [db])
        await cleanup.delete_broker_names(cfg.amqp_url, run.namespace, [_probe_queue(run)])
        run.console.print(f"cleaned up: database {db}, namespace {run.namespace!r}")


def _probe_queue(run: Run) -> str:
    return f"{run.namespace}bench.probe"


def event_probe(run: Run) -> Probe:
    topology = Topology(run.namespace)
    return Probe(
        ProbeSpec(
            run.config.amqp_url,
            _probe_queue(run),
            exchange=topology.events_exchange_name,
            exchange_arguments=topology.events_exchange().arguments,
            binding_keys=("#",),
        )
    )


async def json_phase(
    run: Run, service: IntakeProcess, probe: Probe, phase: Callable[[str], None]
) -> dict[str, Any]:
    cfg = run.config
    tenant = await create_tenant(service.base_url, run.jwt_secret, "bench-json")
    persons = people(f"j{run.run_id}", 0)
    warm = json_path.bodies(persons, 100, seed=1)
    loaded = json_path.bodies(persons, cfg.json_leads, seed=2)
    calm = json_path.bodies(persons, cfg.steady_leads, seed=3)
    await json_path.warm_up(service.base_url, tenant, warm)
    dsn = run.db_url(f"bench_intake_{run.run_id}")
    _, last = await json_path.relay_lag(dsn, 0)
    out: dict[str, Any] = {}
    with _progress(run.console) as progress:
        task = progress.add_task(f"JSON, {cfg.concurrency} in flight", total=len(loaded))
        phase("json-saturated")
        out["saturated"] = json_path.as_dict(
            await json_path.saturate(
                service.base_url,
                tenant,
                probe,
                loaded,
                cfg.concurrency,
                lambda: progress.advance(task),
            )
        )
        out["saturated"]["relay_lag_ms"], last = await json_path.relay_lag(dsn, last)
        task = progress.add_task(f"JSON, {cfg.steady_rate:g}/s", total=len(calm))
        phase("json-steady")
        out["steady"] = json_path.as_dict(
            await json_path.steady(
                service.base_url,
                tenant,
                probe,
                calm,
                cfg.steady_rate,
                lambda: progress.advance(task),
            )
        )
        out["steady"]["relay_lag_ms"], _ = await json_path.relay_lag(dsn, last)
    return out


async def bulk_phase(
    run: Run, service: IntakeProcess, probe: Probe, phase: Callable[[str], None]
) -> dict[str, Any]:
    cfg = run.config
    tenant: Tenant = await create_tenant(service.base_url, run.jwt_secret, "bench-bulk")
    run.console.print(f"generating {cfg.bulk_rows:,} CSV rows ...")
    csv = csv_file(f"b{run.run_id}", cfg.bulk_rows, 0, duplicate_ratio=cfg.duplicate_ratio)
    with _progress(run.console) as progress:
        sent = progress.add_task("bulk upload (bytes)", total=csv.size)
        rows = progress.add_task("bulk job (rows)", total=csv.rows)
        events = progress.add_task("bulk events", total=csv.rows)

        def on_events(seen: Seen) -> None:
            progress.update(events, completed=seen.count(*bulk_path.EVENTS))

        phase("bulk")
        result = await bulk_path.run(
            service.base_url,
            tenant,
            probe,
            csv,
            on_bytes=lambda n: progress.advance(sent, n),
            on_rows=lambda n: progress.update(rows, completed=min(n, csv.rows)),
            on_events=on_events,
            wait_s=cfg.bulk_timeout,
        )
    return dataclasses.asdict(result)


async def service_phases(run: Run) -> None:
    cfg = run.config
    async with AsyncExitStack() as stack:
        service = await stack.enter_async_context(intake_service(run))
        probe = event_probe(run)
        await probe.start()
        stack.push_async_callback(probe.stop)
        rss = RssSampler(service.python_process())
        rss.start()
        stack.push_async_callback(rss.stop)
        cpu = CpuMeter(service.python_process().pid, "intake")
        run.results["rss_peak_mib"] = rss.peaks_mib
        cores = run.results.setdefault("cpu_cores", {})
        current: list[str] = []

        def phase(name: str) -> None:
            if current:
                cores[current.pop()] = cpu.stop()
            current.append(name)
            rss.phase(name)
            cpu.start()

        if not cfg.skip_json and cfg.json_leads:
            run.results["json"] = await json_phase(run, service, probe, phase)
        if not cfg.skip_bulk and cfg.bulk_rows:
            run.results["bulk"] = await bulk_phase(run, service, probe, phase)
        phase("idle")
        _cpu_per_item(run.results)


def _cpu_per_item(results: dict[str, Any]) -> None:
    """Intake's CPU time per lead or row: what one core would allow, whatever the contention."""
    cores = results.get("cpu_cores", {})
    pairs = [
        (results.get("json", {}).get("saturated"), "json-saturated", "accepted", "lead"),
        (results.get("json", {}).get("steady"), "json-steady", "accepted", "lead"),
        (results.get("bulk"), "bulk", "rows", "row"),
    ]
    for result, phase, count, unit in pairs:
        if result and phase in cores and result[count]:
            spent = cores[phase]["intake_cpu_s"] / result[count] * 1000
            result[f"intake_cpu_ms_per_{unit}"] = round(spent, 2)
            # The main process, and its children: the relay process (INTAKE_RELAY_MODE=process)
            # or the other workers (INTAKE_WORKERS).
            for part in ("main", "children"):
                seconds = cores[phase].get(f"intake_{part}_cpu_s")
                if seconds is not None:
                    per = round(seconds / result[count] * 1000, 2)
                    result[f"intake_{part}_cpu_ms_per_{unit}"] = per


async def run(config: BenchConfig, console: Console) -> Path:
    bench = Run(config, console)
    bench.results["meta"] = _meta(bench)
    try:
        if not config.skip_raw:
            meter = CpuMeter(service="intake")
            meter.start()
            bench.results["raw"] = await raw_phase(bench)
            bench.results.setdefault("cpu_cores", {})["raw"] = meter.stop()
        wants_json = not config.skip_json and config.json_leads > 0
        wants_bulk = not config.skip_bulk and config.bulk_rows > 0
        if wants_json or wants_bulk:
            await service_phases(bench)
    finally:
        bench.results["ratios"] = report.ratios(bench.results)
        bench.results["meta"]["finished_at"] = datetime.now(UTC).isoformat()
        path = report.write(bench.results, config.results_dir)
        try:
            report.show(bench.results, console)
        except Exception as exc:  # a partial run: the JSON file has what there is
            console.print(f"cannot tabulate these results: {exc!r}")
        console.print(f"figures written to {path}")
    return path

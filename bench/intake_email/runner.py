"""One run: the bare sink's ceiling, then intake (HTTP, to set up a source) and
forecourt-intake-smtp as processes, messages over SMTP, their `lead.ingested` on RabbitMQ."""

from __future__ import annotations

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

import httpx
import psutil
from pydantic import SecretStr
from rich.console import Console

from bench.common import cleanup, defaults
from bench.common.meters import CpuMeter, RssSampler
from bench.common.report import progress, run_meta
from bench.common.service import ServiceProcess
from bench.common.stats import summary_ms
from bench.intake.probe import Probe, ProbeSpec, Seen, collect
from bench.intake.service import IntakeProcess, create_tenant
from bench.intake_email import load, report
from bench.intake_email.smtp import Sink, lead_mail, person_email, wait_listening
from shared.auth import issue_token
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.ports import free_port

SERVICE = "intake-smtp"
# A loaded machine can take minutes to import and migrate a service.
START_WAIT_S = 600.0
DOMAIN = "leads.bench.example"
INGESTED = "lead.ingested"


@dataclass(frozen=True)
class BenchConfig:
    amqp_url: str = defaults.AMQP_URL
    pg_admin_dsn: str = defaults.PG_ADMIN_DSN
    messages: int = 10_000
    connections: int = 8
    sink_messages: int = 10_000  # the bare aiosmtpd sink's messages (0: not measured)
    warm: int = 50
    events_timeout: float = 1800.0
    results_dir: Path = Path(__file__).resolve().parents[1] / "results"


class IntakeSmtpProcess(ServiceProcess):
    SERVICE = SERVICE
    ENV_PREFIX = "INTAKE"


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

    @property
    def database(self) -> str:
        return f"bench_email_{self.run_id}"

    @property
    def tenant(self) -> str:
        return f"bench-{self.run_id}"

    @property
    def probe_queue(self) -> str:
        return f"{self.namespace}bench.email-probe"

    @property
    def sqlalchemy_url(self) -> str:
        dsn = cleanup.database_url(self.config.pg_admin_dsn, self.database)
        return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def sink_phase(run: Run) -> dict[str, Any]:
    """The ceiling: the same client and messages against aiosmtpd that only answers 250."""
    cfg = run.config
    run.console.print(f"raw ceiling: {cfg.sink_messages:,} messages to a bare aiosmtpd sink")
    messages = [lead_mail(f"sink{run.run_id}", i) for i in range(cfg.sink_messages)]
    sink = Sink()
    await sink.start()
    meter = CpuMeter(service="sink")
    try:
        meter.start()
        with progress(run.console) as bars:
            task = bars.add_task("sink", total=len(messages))
            done = await load.deliver(
                sink.port,
                "anyone@sink.example",
                messages,
                cfg.connections,
                lambda: bars.advance(task),
            )
        run.results.setdefault("cpu_cores", {})["sink"] = meter.stop()
    finally:
        await sink.stop()
    return load.summarise(done)


async def _admin(run: Run, base_url: str, method: str, path: str, body: Any) -> Any:
    settings = CommonSettings(jwt_secret=SecretStr(run.jwt_secret))
    token = issue_token(settings, subject="bench", role="admin", tenant=run.tenant)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        r.raise_for_status()
        return r.json()


@asynccontextmanager
async def services(run: Run) -> AsyncIterator[tuple[IntakeSmtpProcess, str]]:
    """intake (migrates, serves the admin API: a dealership and a source, no test-lead rules)
    and the SMTP listener beside it, as `make up` runs them; yields the listener and the
    source's address. Stopped, database dropped and namespace deleted whatever happens."""
    cfg = run.config
    stack = AsyncExitStack()
    try:
        intake = IntakeProcess.start(
            database_url=run.sqlalchemy_url,
            amqp_url=cfg.amqp_url,
            namespace=run.namespace,
            jwt_secret=run.jwt_secret,
        )
        stack.callback(intake.stop)
        await intake.wait_healthy(START_WAIT_S)
        tenant = await create_tenant(intake.base_url, run.jwt_secret, run.tenant)
        await _admin(
            run,
            intake.base_url,
            "PUT",
            "/v1/admin/settings",
            {"dedup_window_days": 30, "test_rules": {"rules": []}},
        )
        port = free_port()
        env = {
            "INTAKE_DATABASE_URL": run.sqlalchemy_url,
            "INTAKE_HTTP_PORT": str(free_port()),
            "INTAKE_SMTP_PORT": str(port),
            "INTAKE_SMTP_DOMAIN": DOMAIN,
            "FORECOURT_AMQP_URL": cfg.amqp_url,
            "FORECOURT_NAMESPACE": run.namespace,
            "FORECOURT_JWT_SECRET": run.jwt_secret,
            "FORECOURT_LOG_LEVEL": "WARNING",
        }
        launched = time.monotonic()
        smtp = IntakeSmtpProcess.launch(SERVICE, env, port)
        stack.callback(smtp.stop)
        await wait_listening(
            "127.0.0.1", port, START_WAIT_S, alive=lambda: smtp.popen.poll() is None
        )
        run.results["listener_start_s"] = round(time.monotonic() - launched, 2)
        yield smtp, f"{tenant.source_id}@{DOMAIN}"
    finally:
        try:
            await stack.aclose()
        finally:
            try:
                await cleanup.drop_databases(cfg.pg_admin_dsn, [run.database])
            finally:
                queues, exchanges = await cleanup.delete_broker_names(
                    cfg.amqp_url, run.namespace, [run.probe_queue]
                )
                run.console.print(
                    f"cleaned up: database {run.database}, namespace {run.namespace!r} "
                    f"({queues} queues, {exchanges} exchanges)"
                )


def _probe(run: Run) -> Probe:
    topology = Topology(run.namespace)
    return Probe(
        ProbeSpec(
            run.config.amqp_url,
            run.probe_queue,
            exchange=topology.events_exchange_name,
            exchange_arguments=topology.events_exchange().arguments,
            binding_keys=("#",),
            key="payload.person.email",
        )
    )


async def _until_ingested(
    run: Run, probe: Probe, emails: list[str], seen: Seen, label: str
) -> tuple[Seen, bool]:
    wanted = set(emails)
    with progress(run.console) as bars:
        task = bars.add_task(label, total=len(wanted))

        def done(s: Seen) -> bool:
            return sum((INGESTED, e) in s.first for e in wanted) >= len(wanted)

        def show(s: Seen) -> None:
            bars.update(task, completed=s.count(INGESTED))

        return await collect(
            probe,
            done,
            tenant=run.tenant,
            seen=seen,
            wait_s=run.config.events_timeout,
            poll=0.25,
            on_progress=show,
        )


async def service_phase(run: Run) -> dict[str, Any]:
    cfg = run.config
    async with AsyncExitStack() as stack:
        smtp, address = await stack.enter_async_context(services(run))
        probe = _probe(run)
        await probe.start(START_WAIT_S)  # a spawned process imports slowly on a loaded machine
        stack.push_async_callback(probe.stop)
        # The script itself is the listener (its shebang is Python); its children (the outbox
        # relay's process) are counted with it. python_process() would pick the relay child.
        process = psutil.Process(smtp.popen.pid)
        rss = RssSampler(process)
        rss.start()
        stack.push_async_callback(rss.stop)
        run.results["rss_peak_mib"] = rss.peaks_mib
        cpu = CpuMeter(process.pid, SERVICE)

        run.console.print(f"listener up (pid {process.pid}); warming up with {cfg.warm} messages")
        warm = [lead_mail(run.run_id, -1 - i) for i in range(cfg.warm)]
        seen = Seen()
        if warm:
            await load.deliver(smtp_port(smtp), address, warm, cfg.connections)
            emails = [person_email(run.run_id, -1 - i) for i in range(cfg.warm)]
            _, ok = await _until_ingested(run, probe, emails, seen, "warm-up lead.ingested")
            if not ok:
                raise RuntimeError(f"warm-up events never came:\n{smtp.log_tail()}")

        messages = [lead_mail(run.run_id, i) for i in range(cfg.messages)]
        rss.phase("smtp")
        cpu.start()
        with progress(run.console) as bars:
            task = bars.add_task(f"SMTP, {cfg.connections} sessions", total=len(messages))
            delivery = await load.deliver(
                smtp_port(smtp), address, messages, cfg.connections, lambda: bars.advance(task)
            )
        out: dict[str, Any] = load.summarise(delivery)
        emails = [person_email(run.run_id, s.index) for s in delivery.sent]
        seen, complete = await _until_ingested(run, probe, emails, seen, "lead.ingested")
        cores = cpu.stop()
        run.results.setdefault("cpu_cores", {})["smtp → events"] = cores
        latencies = [
            seen.first[(INGESTED, person_email(run.run_id, s.index))] - s.data_end
            for s in delivery.sent
            if (INGESTED, person_email(run.run_id, s.index)) in seen.first
        ]
        last = max((seen.first.get((INGESTED, e), 0.0) for e in emails), default=0.0)
        out["ingested"] = len(latencies)
        out["complete"] = complete
        out["data_end_to_ingested_ms"] = summary_ms(latencies)
        wall = last - delivery.started
        out["ingested_per_s"] = round(len(latencies) / wall, 1) if latencies and wall > 0 else None
        if cores.get(f"{SERVICE}_cpu_s") and delivery.sent:
            out["cpu_ms_per_message"] = round(
                cores[f"{SERVICE}_cpu_s"] / len(delivery.sent) * 1000, 2
            )
        text = smtp.log_path.read_text(errors="replace") if smtp.log_path.exists() else ""
        out["log_warnings"] = text.count(" WARNING ")
        out["log_errors"] = text.count(" ERROR ")
        return out


def smtp_port(smtp: IntakeSmtpProcess) -> int:
    return int(smtp.base_url.rsplit(":", 1)[1])


async def run(config: BenchConfig, console: Console) -> Path:
    bench = Run(config, console)
    bench.results["meta"] = run_meta(bench.run_id, config)
    try:
        if config.sink_messages > 0:
            bench.results["sink"] = await sink_phase(bench)
        bench.results["smtp"] = await service_phase(bench)
    finally:
        bench.results["meta"]["finished_at"] = datetime.now(UTC).isoformat()
        path = report.write(bench.results, config.results_dir)
        try:
            report.show(bench.results, console)
        except Exception as exc:  # a partial run: the JSON file has what there is
            console.print(f"cannot tabulate these results: {exc!r}")
        console.print(f"figures written to {path}")
    return path

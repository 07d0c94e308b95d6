"""`forecourt chaos`, `forecourt soak`, `forecourt sweep` and `forecourt simulate`.

typer builds the subcommands and their options from type hints (the repository's CLI library
already: scripts/up.py, forecourt-token); rich draws the live progress bars and the summary
tables (typer's own dependency, and what the benchmarks print with).

Exit codes: 0 nothing lost or duplicated (and, for soak, no steady growth); 1 a loss, a
duplicate, an unfinished drain or steady growth; 2 the harness itself failed; 130 interrupted.
Whatever happens, the private broker node, database cluster, processes and work folder go.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
import warnings
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from forecourt_chaos import repo
from forecourt_chaos.adapters.cleanup import Cleanup, sweep_stale
from forecourt_chaos.adapters.local_system import LocalSystem, clock_file
from forecourt_chaos.adapters.services import select
from forecourt_chaos.domain.dealer_group import SOURCES, GroupShape
from forecourt_chaos.domain.faults import FaultKind, Timing
from forecourt_chaos.entrypoints import report, sim_report
from forecourt_chaos.service_layer import load
from forecourt_chaos.service_layer.chaos_run import ChaosConfig, run_chaos
from forecourt_chaos.service_layer.session import LoadConfig, Result
from forecourt_chaos.service_layer.simulate import SimConfig, Simulation, default_env
from forecourt_chaos.service_layer.soak_run import SoakConfig, SoakLimits, run_soak
from forecourt_chaos.service_layer.stack import StackConfig

app = typer.Typer(
    help="Forecourt's harnesses: the services on a private broker and database, under load.",
    no_args_is_help=True,
    add_completion=False,
)
DEFAULT_OUT = repo.ROOT / ".run" / "chaos"

Seed = Annotated[int | None, typer.Option(help="replays a run: leads, tenants, fault order")]
Replicas = Annotated[int, typer.Option(min=1, help="processes per service")]
WorkRatio = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="share of the leads a CRM agent qualifies or writes off (work for assignment, "
        "recovery, metrics)",
    ),
]
Services = Annotated[
    list[str] | None,
    typer.Option("--service", help="run only these (repeat); default: every catalogue service"),
]
Env = Annotated[
    list[str] | None,
    typer.Option("--env", help="KEY=VALUE for every replica (repeat), e.g. INTAKE_WORKERS=2"),
]
Out = Annotated[Path, typer.Option(help="where the JSON summary (and kept logs) go")]
KeepLogs = Annotated[bool, typer.Option(help="keep service and broker logs (kept on failure)")]
Body = Callable[
    [Cleanup, Callable[[str], None], Callable[[load.Progress, int], None]],
    Coroutine[Any, Any, Result],
]
ALL_FAULTS = ",".join(k.value for k in FaultKind)
Range = tuple[float, float]


def _env(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _services(names: list[str] | None) -> list[str] | None:
    try:
        select(names)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if names and "intake" not in names:
        raise typer.BadParameter("intake is the way in: it must be one of the services")
    return names


def _kinds(text: str) -> tuple[FaultKind, ...]:
    try:
        return tuple(FaultKind(k.strip()) for k in text.split(",") if k.strip())
    except ValueError as exc:
        known = ", ".join(k.value for k in FaultKind)
        raise typer.BadParameter(f"{exc}; known: {known}") from exc


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _execute(
    command: str,
    config: Any,
    body: Body,
    *,
    leads: int,
    faults: int,
    out: Path,
    keep_logs: bool,
) -> int:
    # Written to a file or a pipe, rich would wrap the tables at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=132)
    # aio-pika logs every refused connection while the private node boots or is down: the
    # harness expects those and reports what matters itself.
    for noisy in ("aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="coroutine 'Connection.close' was never awaited")
    for stale in sweep_stale():
        console.print(f"removed what a dead earlier run left: {stale}")
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: cancel, then clean up
    cleanup = Cleanup()
    cleanup.mark_this_process()
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    )
    lead_bar = bars.add_task("leads", total=leads or None, note="")
    fault_bar = bars.add_task("faults", total=faults or None, note="", visible=faults > 0)

    def say(message: str) -> None:
        bars.console.print(message)

    def show(progress: load.Progress, injected: int) -> None:
        answered = sum(progress.answered.values())
        note = ", ".join(f"{k} {v}" for k, v in sorted(progress.answered.items()))
        bars.update(lead_bar, completed=answered, note=f"{note}, in flight {progress.in_flight}")
        bars.update(fault_bar, completed=injected)

    result: Result | None = None
    code = 2
    try:
        with bars:
            result = uvloop.run(body(cleanup, say, show))
        code = 0 if result.passed else 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        code = 130
    except Exception:
        console.print_exception(max_frames=8)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the clean-up
        console.print("cleaning up: services, proxies, broker node, database cluster")
        folder = result.run_id if result else cleanup.workdir.name
        keep = out / folder if (keep_logs or code != 0) else None
        for problem in cleanup.run(keep=keep):
            console.print(f"[red]clean-up: {problem}[/red]")
        if keep is not None:
            console.print(f"logs kept in {keep}")
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if result is not None:
        report.render(result, console)
        console.print(f"summary: {report.write(result, out, command, config)}")
    return code


@app.command()
def chaos(
    leads: Annotated[int, typer.Option(min=1, help="leads to send")] = 1000,
    minutes: Annotated[float, typer.Option(help="the load and faults end by then")] = 5.0,
    max_faults: Annotated[int, typer.Option(min=0, help="faults to inject")] = 20,
    rate: Annotated[float, typer.Option(min=0.1, help="leads per second, at most")] = 20.0,
    seed: Seed = None,
    tenants: Annotated[int, typer.Option(min=1)] = 10,
    replicas: Replicas = 2,
    service: Services = None,
    faults: Annotated[str, typer.Option(help="fault kinds, comma-separated")] = ALL_FAULTS,
    gap: Annotated[Range, typer.Option(help="seconds of calm before a fault: min max")] = (2, 6),
    hold: Annotated[Range, typer.Option(help="seconds a fault lasts: min max")] = (2, 8),
    repeat_ratio: Annotated[float, typer.Option(help="share of leads that repeat a person")] = 0.1,
    work_ratio: WorkRatio = 0.05,
    recovery_wait: Annotated[float, typer.Option(help="seconds to wait for a probe lead")] = 120.0,
    drain_wait: Annotated[float, typer.Option(help="seconds the drain may take")] = 180.0,
    env: Env = None,
    out: Out = DEFAULT_OUT,
    keep_logs: KeepLogs = False,
) -> None:
    """Crash the services, the broker and the database and break their network while leads
    pour in through every way in; then account for every lead."""
    config = ChaosConfig(
        seed=seed if seed is not None else random.randrange(1 << 31),
        minutes=minutes,
        max_faults=max_faults,
        kinds=_kinds(faults),
        timing=Timing(gap=gap, hold=hold),
        recovery_wait_s=recovery_wait,
        drain_wait_s=drain_wait,
        load=LoadConfig(
            leads=leads,
            rate=rate,
            tenants=tenants,
            repeat_ratio=repeat_ratio,
            work_ratio=work_ratio,
        ),
        stack=StackConfig(services=_services(service), replicas=replicas, env=_env(env)),
    )
    Console().print(f"forecourt chaos: seed {config.seed}")
    code = _execute(
        "chaos",
        config,
        lambda cleanup, say, show: run_chaos(config, cleanup, say, show),
        leads=leads,
        faults=max_faults,
        out=out,
        keep_logs=keep_logs,
    )
    raise typer.Exit(code)


@app.command()
def soak(
    minutes: Annotated[float, typer.Option(help="how long the steady load runs")] = 60.0,
    rate: Annotated[float, typer.Option(min=0.1, help="leads per second")] = 20.0,
    sample: Annotated[float, typer.Option(help="seconds between samples")] = 30.0,
    seed: Seed = None,
    tenants: Annotated[int, typer.Option(min=1)] = 10,
    replicas: Replicas = 2,
    service: Services = None,
    max_rss_growth: Annotated[float, typer.Option(help="MiB per minute per service")] = 2.0,
    max_files_growth: Annotated[float, typer.Option(help="open files/min per service")] = 2.0,
    max_queue_growth: Annotated[float, typer.Option(help="queued messages per minute")] = 20.0,
    max_outbox_growth: Annotated[float, typer.Option(help="outbox rows/min per service")] = 20.0,
    work_ratio: WorkRatio = 0.05,
    drain_wait: Annotated[float, typer.Option(help="seconds the drain may take")] = 180.0,
    env: Env = None,
    out: Out = DEFAULT_OUT,
    keep_logs: KeepLogs = False,
) -> None:
    """A steady load without faults, sampling memory, open files, queue depth and outbox
    backlog; fails on steady growth over the second half, or on any loss or duplicate."""
    config = SoakConfig(
        seed=seed if seed is not None else random.randrange(1 << 31),
        minutes=minutes,
        sample_s=sample,
        limits=SoakLimits(max_rss_growth, max_files_growth, max_queue_growth, max_outbox_growth),
        drain_wait_s=drain_wait,
        load=LoadConfig(leads=0, rate=rate, tenants=tenants, work_ratio=work_ratio),
        stack=StackConfig(services=_services(service), replicas=replicas, env=_env(env)),
    )
    Console().print(f"forecourt soak: seed {config.seed}")
    code = _execute(
        "soak",
        config,
        lambda cleanup, say, show: run_soak(config, cleanup, say, show),
        leads=int(rate * minutes * 60),
        faults=0,
        out=out,
        keep_logs=keep_logs,
    )
    raise typer.Exit(code)


@app.command()
def sweep() -> None:
    """Remove what runs whose harness was killed (kill -9) left behind: their broker node,
    database cluster, processes and work folders. Every run does this first, too."""
    removed = sweep_stale()
    for workdir in removed:
        Console().print(f"removed {workdir}")
    if not removed:
        Console().print("nothing left behind by a dead run")


@app.command()
def simulate(
    leads: Annotated[int, typer.Option(min=1, help="enquiries over the simulated days")] = 3000,
    days: Annotated[int, typer.Option(min=1, max=366, help="simulated days")] = 28,
    start: Annotated[str, typer.Option(help="the first simulated day (YYYY-MM-DD)")] = "2026-03-02",
    dealerships: Annotated[int, typer.Option(min=1)] = 12,
    sources: Annotated[int, typer.Option(min=1, max=len(SOURCES))] = 15,
    agents: Annotated[int, typer.Option(min=1, help="CRM agents (at least one a dealership)")] = 30,
    consultants: Annotated[int, typer.Option(min=1, help="at least one a dealership")] = 120,
    seed: Annotated[int, typer.Option(help="the same seed, the same group and story")] = 20260302,
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight")] = 16,
    stay: Annotated[bool, typer.Option(help="keep the services up afterwards (Ctrl-C)")] = False,
) -> None:
    """Create a dealer group through the services' admin APIs and drive it through the real
    services (started here as local processes on the machine's PostgreSQL and RabbitMQ, on
    databases and a namespace of their own) on a compressed clock; then print the metrics
    API's KPIs beside the simulation's own count."""
    try:
        shape = GroupShape(dealerships, sources, agents, consultants)
        first = date.fromisoformat(start)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    config = SimConfig(
        seed=seed, leads=leads, days=days, start=first, shape=shape, concurrency=concurrency
    )
    console = Console() if sys.stdout.isatty() else Console(width=132)
    try:
        code = uvloop.run(_simulate(config, console, stay=stay))
    except KeyboardInterrupt:  # the run cleaned up when its task was cancelled
        code = 130
    raise typer.Exit(code)


async def _simulate(config: SimConfig, console: Console, *, stay: bool) -> int:
    system = LocalSystem.fresh("sim")
    path = clock_file(DEFAULT_OUT.parent / "simulate", system.tag)
    system.env = default_env(path)
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    tasks = {
        "days": bars.add_task("simulated days", total=config.days),
        "enquiries": bars.add_task("enquiries", total=config.leads),
        "actions": bars.add_task("agents' and consultants' actions", total=None),
    }

    def progress(task: str, done: int, total: int | None) -> None:
        bars.update(tasks[task], completed=done, total=total)
        if task == "days" and not console.is_terminal:  # a log: one line a day instead
            console.print(f"simulated day {done}/{total}")

    code = 2
    main = asyncio.current_task()
    assert main is not None
    # SIGTERM (a `timeout`, an orchestrator) cleans up as Ctrl-C does.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    try:
        console.print(f"starting the five services ({system.tag}: own databases and queues)")
        await system.start()
        simulation = Simulation(config, system, path, progress=progress, say=console.print)
        with bars:
            result = await simulation.run()
        sim_report.render(result, console, stay=stay)
        code = 0 if result.passed else 1
        if stay:
            await asyncio.Event().wait()  # until Ctrl-C
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("[yellow]interrupted[/yellow]")
        code = 130
    except Exception:
        console.print_exception(max_frames=8)
        for name, tail in system.log_tails().items():
            if tail:
                console.print(f"[dim]{name}:[/dim]\n{tail}")
    finally:
        console.print("stopping the services, removing their databases and queues")
        await asyncio.shield(system.stop())
        path.unlink(missing_ok=True)
    return code


def main() -> None:
    app()

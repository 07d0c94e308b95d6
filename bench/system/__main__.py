"""`uv run python -m bench.system [--rate R] [--steady-leads N] [--leads N] ...`"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.system.runner import BenchConfig, run

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)
DEFAULTS = BenchConfig()


@app.command()
def main(
    rate: Annotated[float, typer.Option(help="leads/s of the steady phase")] = DEFAULTS.rate,
    steady_leads: Annotated[
        int, typer.Option(help="leads of the steady phase (0: no steady phase)")
    ] = DEFAULTS.steady_leads,
    sample_every: Annotated[
        int, typer.Option(help="every n-th steady lead is watched for in GET /v1/queue")
    ] = DEFAULTS.sample_every,
    poll_ms: Annotated[float, typer.Option(help="ms between GET /v1/queue")] = DEFAULTS.poll_ms,
    leads: Annotated[
        int, typer.Option(help="leads of the saturation phase (0: no saturation phase)")
    ] = DEFAULTS.leads,
    concurrency: Annotated[
        int, typer.Option(help="POSTs in flight in the saturation phase")
    ] = DEFAULTS.concurrency,
    dealerships: Annotated[
        int, typer.Option(help="dealerships the leads not watched for are spread over")
    ] = DEFAULTS.dealerships,
    raw_messages: Annotated[
        int, typer.Option(help="messages of the raw broker ceiling (0: not measured)")
    ] = DEFAULTS.raw_messages,
    phase_timeout: Annotated[
        float, typer.Option(help="seconds a phase may take to reach every task")
    ] = DEFAULTS.phase_timeout,
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = DEFAULTS.amqp_url,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the server's admin database")
    ] = DEFAULTS.pg_admin_dsn,
    results_dir: Annotated[Path, typer.Option(help="where the JSON figures go")] = (
        DEFAULTS.results_dir
    ),
) -> None:
    """Run the five services as processes and measure the funnel; print the figures."""
    if rate <= 0 or sample_every < 1 or poll_ms <= 0 or concurrency < 1 or dealerships < 1:
        raise typer.BadParameter("rates, counts and intervals must be positive")
    if steady_leads < 0 or leads < 0 or raw_messages < 0:
        raise typer.BadParameter("lead and message counts cannot be negative")
    config = BenchConfig(
        amqp_url=amqp_url,
        pg_admin_dsn=pg_admin_dsn,
        rate=rate,
        steady_leads=steady_leads,
        sample_every=sample_every,
        poll_ms=poll_ms,
        leads=leads,
        concurrency=concurrency,
        dealerships=dealerships,
        raw_messages=raw_messages,
        phase_timeout=phase_timeout,
        results_dir=results_dir,
    )
    # Piped to a file, rich would wrap the table at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    # A SIGTERM (`timeout`, a CI job cancelled) stops the run as Ctrl-C does: it cleans up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    asyncio.run(run(config, console))


if __name__ == "__main__":
    app()

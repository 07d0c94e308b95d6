"""`uv run python -m bench.crm_queue [--backlog N] [--latency-leads N] [--rate R] ...`"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.crm_queue.runner import BenchConfig, run

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)
DEFAULTS = BenchConfig()


@app.command()
def main(
    backlog: Annotated[
        int, typer.Option(help="lead.ingested events waiting while crm-queue is down")
    ] = DEFAULTS.backlog,
    dealerships: Annotated[int, typer.Option(help="dealerships the backlog is spread over")] = (
        DEFAULTS.dealerships
    ),
    latency_leads: Annotated[
        int, typer.Option(help="events published at a steady rate (0: no latency phase)")
    ] = DEFAULTS.latency_leads,
    rate: Annotated[float, typer.Option(help="events/s of the latency phase")] = DEFAULTS.rate,
    raw_messages: Annotated[
        int, typer.Option(help="messages of the raw broker ceiling (0: not measured)")
    ] = DEFAULTS.raw_messages,
    poll_ms: Annotated[float, typer.Option(help="ms between GET /v1/leads/{id} polls")] = (
        DEFAULTS.poll_ms
    ),
    sample_every: Annotated[
        int, typer.Option(help="every n-th latency event is also looked for in GET /v1/queue")
    ] = DEFAULTS.sample_every,
    in_flight: Annotated[int, typer.Option(help="unconfirmed publishes of the backlog")] = (
        DEFAULTS.in_flight
    ),
    backlog_timeout: Annotated[float, typer.Option(help="seconds allowed to drain the backlog")] = (
        DEFAULTS.backlog_timeout
    ),
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = DEFAULTS.amqp_url,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the server's admin database")
    ] = DEFAULTS.pg_admin_dsn,
    results_dir: Annotated[Path, typer.Option(help="where the JSON figures go")] = (
        DEFAULTS.results_dir
    ),
) -> None:
    """Measure crm-queue: tasks/s from a backlog, publish → visible latency; print the figures."""
    if backlog < 1 or dealerships < 1 or sample_every < 1 or rate <= 0 or in_flight < 1:
        raise typer.BadParameter("counts and rates must be positive")
    config = BenchConfig(
        amqp_url=amqp_url,
        pg_admin_dsn=pg_admin_dsn,
        backlog=backlog,
        dealerships=dealerships,
        in_flight=in_flight,
        backlog_timeout=backlog_timeout,
        latency_leads=latency_leads,
        raw_messages=raw_messages,
        rate=rate,
        poll_ms=poll_ms,
        sample_every=sample_every,
        results_dir=results_dir,
    )
    # Piped to a file, rich would wrap the table at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    asyncio.run(run(config, console))


if __name__ == "__main__":
    app()

"""`uv run python -m bench.metrics [--stream N] [--events N] [--repeats N] ...`"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.metrics.runner import BenchConfig, run

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)
DEFAULTS = BenchConfig()


@app.command()
def main(
    stream: Annotated[
        int, typer.Option(help="lead.ingested published for the projection's events/s")
    ] = DEFAULTS.stream,
    events: Annotated[int, typer.Option(help="events of history seeded for the queries")] = (
        DEFAULTS.events
    ),
    dealerships: Annotated[int, typer.Option(help="dealerships")] = DEFAULTS.dealerships,
    repeats: Annotated[int, typer.Option(help="times each KPI query is timed")] = (
        DEFAULTS.repeats
    ),
    in_flight: Annotated[int, typer.Option(help="unconfirmed publishes")] = DEFAULTS.in_flight,
    raw_messages: Annotated[
        int, typer.Option(help="messages of the raw broker ceiling (0: not measured)")
    ] = DEFAULTS.raw_messages,
    project_timeout: Annotated[float, typer.Option(help="seconds allowed to project")] = (
        DEFAULTS.project_timeout
    ),
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = DEFAULTS.amqp_url,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the server's admin database")
    ] = DEFAULTS.pg_admin_dsn,
    results_dir: Annotated[Path, typer.Option(help="where the JSON figures go")] = (
        DEFAULTS.results_dir
    ),
) -> None:
    """Measure metrics: events/s projected, KPI query latency over a large history."""
    if min(stream, events, dealerships, repeats, in_flight) < 1:
        raise typer.BadParameter("counts must be positive")
    config = BenchConfig(
        amqp_url=amqp_url,
        pg_admin_dsn=pg_admin_dsn,
        stream=stream,
        events=events,
        dealerships=dealerships,
        repeats=repeats,
        in_flight=in_flight,
        raw_messages=raw_messages,
        project_timeout=project_timeout,
        results_dir=results_dir,
    )
    console = Console() if sys.stdout.isatty() else Console(width=160)
    asyncio.run(run(config, console))


if __name__ == "__main__":
    app()

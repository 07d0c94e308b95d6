"""`uv run python -m bench.assignment [--backlog N] [--dealerships N] [--consultants N] ...`"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.assignment.runner import BenchConfig, run

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)
DEFAULTS = BenchConfig()


@app.command()
def main(
    backlog: Annotated[
        int, typer.Option(help="lead.qualified events waiting while assignment is down")
    ] = DEFAULTS.backlog,
    dealerships: Annotated[int, typer.Option(help="dealerships")] = DEFAULTS.dealerships,
    consultants: Annotated[
        int, typer.Option(help="consultants, spread evenly over the dealerships")
    ] = DEFAULTS.consultants,
    cap: Annotated[int, typer.Option(help="open prospects a consultant may hold")] = DEFAULTS.cap,
    in_flight: Annotated[int, typer.Option(help="unconfirmed publishes of the backlog")] = (
        DEFAULTS.in_flight
    ),
    raw_messages: Annotated[
        int, typer.Option(help="messages of the raw broker ceiling (0: not measured)")
    ] = DEFAULTS.raw_messages,
    backlog_timeout: Annotated[float, typer.Option(help="seconds allowed to drain it")] = (
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
    """Measure assignment: assignments/s from a backlog, and the fairness it reaches."""
    if min(backlog, dealerships, cap, in_flight) < 1 or consultants < dealerships:
        raise typer.BadParameter("counts must be positive, at least one consultant a dealership")
    config = BenchConfig(
        amqp_url=amqp_url,
        pg_admin_dsn=pg_admin_dsn,
        backlog=backlog,
        dealerships=dealerships,
        consultants=consultants,
        cap=cap,
        in_flight=in_flight,
        raw_messages=raw_messages,
        backlog_timeout=backlog_timeout,
        results_dir=results_dir,
    )
    console = Console() if sys.stdout.isatty() else Console(width=160)
    asyncio.run(run(config, console))


if __name__ == "__main__":
    app()

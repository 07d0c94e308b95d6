"""`uv run python -m bench.intake [--json-leads N] [--bulk-rows N] [--skip-raw] ...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvloop
from rich.console import Console

from bench.intake.runner import BenchConfig, run

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)
DEFAULTS = BenchConfig()


@app.command()
def main(
    json_leads: Annotated[
        int, typer.Option(help="leads posted at full load")
    ] = DEFAULTS.json_leads,
    concurrency: Annotated[int, typer.Option(help="requests in flight at full load")] = (
        DEFAULTS.concurrency
    ),
    steady_leads: Annotated[int, typer.Option(help="leads posted at a steady rate")] = (
        DEFAULTS.steady_leads
    ),
    steady_rate: Annotated[float, typer.Option(help="leads/s of the steady run")] = (
        DEFAULTS.steady_rate
    ),
    bulk_rows: Annotated[int, typer.Option(help="CSV rows (e.g. 1000000)")] = DEFAULTS.bulk_rows,
    duplicate_ratio: Annotated[float, typer.Option(help="share of CSV rows repeating a person")] = (
        DEFAULTS.duplicate_ratio
    ),
    raw_messages: Annotated[int, typer.Option(help="messages of the raw broker ceiling")] = (
        DEFAULTS.raw_messages
    ),
    pg_rows: Annotated[int, typer.Option(help="rows of the raw PostgreSQL ceiling (COPY)")] = (
        DEFAULTS.pg_rows
    ),
    skip_raw: Annotated[bool, typer.Option("--skip-raw", help="no raw ceilings")] = False,
    skip_json: Annotated[bool, typer.Option("--skip-json", help="no JSON path")] = False,
    skip_bulk: Annotated[bool, typer.Option("--skip-bulk", help="no bulk path")] = False,
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = DEFAULTS.amqp_url,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the server's admin database")
    ] = DEFAULTS.pg_admin_dsn,
    bulk_timeout: Annotated[float, typer.Option(help="seconds to wait for a bulk job")] = (
        DEFAULTS.bulk_timeout
    ),
    results_dir: Annotated[Path, typer.Option(help="where the JSON figures go")] = (
        DEFAULTS.results_dir
    ),
) -> None:
    """Measure intake against this machine's ceilings and print the figures."""
    config = BenchConfig(
        amqp_url=amqp_url,
        pg_admin_dsn=pg_admin_dsn,
        raw_messages=raw_messages,
        pg_rows=pg_rows,
        json_leads=json_leads,
        concurrency=concurrency,
        steady_leads=steady_leads,
        steady_rate=steady_rate,
        bulk_rows=bulk_rows,
        duplicate_ratio=duplicate_ratio,
        skip_raw=skip_raw,
        skip_json=skip_json,
        skip_bulk=skip_bulk,
        bulk_timeout=bulk_timeout,
        results_dir=results_dir,
    )
    uvloop.run(run(config, Console()))


if __name__ == "__main__":  # not when a spawned probe process imports this module
    app()

"""`uv run python -m bench.recovery [--schedules N] [--due N] ...`"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.recovery.runner import BenchConfig, run

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)
DEFAULTS = BenchConfig()


@app.command()
def main(
    schedules: Annotated[int, typer.Option(help="scheduled follow-ups in the table")] = (
        DEFAULTS.schedules
    ),
    due: Annotated[int, typer.Option(help="of them, due at once")] = DEFAULTS.due,
    tenants: Annotated[int, typer.Option(help="tenants they are spread over")] = DEFAULTS.tenants,
    batch_size: Annotated[
        int, typer.Option(help="RECOVERY_SCANNER_BATCH_SIZE, and the ceiling's batch")
    ] = DEFAULTS.batch_size,
    raw: Annotated[bool, typer.Option(help="measure the bare-SQL ceiling")] = DEFAULTS.raw,
    fire_timeout: Annotated[float, typer.Option(help="seconds allowed to fire them")] = (
        DEFAULTS.fire_timeout
    ),
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = DEFAULTS.amqp_url,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the server's admin database")
    ] = DEFAULTS.pg_admin_dsn,
    results_dir: Annotated[Path, typer.Option(help="where the JSON figures go")] = (
        DEFAULTS.results_dir
    ),
) -> None:
    """Measure recovery's scanner: time to fire due follow-ups among many; table size."""
    if schedules < 1 or not 0 < due <= schedules or tenants < 1 or batch_size < 1:
        raise typer.BadParameter("counts must be positive, due at most schedules")
    config = BenchConfig(
        amqp_url=amqp_url,
        pg_admin_dsn=pg_admin_dsn,
        schedules=schedules,
        due=due,
        tenants=tenants,
        batch_size=batch_size,
        raw=raw,
        fire_timeout=fire_timeout,
        results_dir=results_dir,
    )
    console = Console() if sys.stdout.isatty() else Console(width=160)
    asyncio.run(run(config, console))


if __name__ == "__main__":
    app()

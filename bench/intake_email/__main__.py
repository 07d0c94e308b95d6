"""`uv run python -m bench.intake_email [--messages N] [--connections C] ...`"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.intake_email.runner import BenchConfig, run

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)
DEFAULTS = BenchConfig()


@app.command()
def main(
    messages: Annotated[int, typer.Option(help="lead e-mails sent to the listener")] = (
        DEFAULTS.messages
    ),
    connections: Annotated[int, typer.Option(help="SMTP sessions sending at once")] = (
        DEFAULTS.connections
    ),
    sink_messages: Annotated[
        int, typer.Option(help="messages to the bare aiosmtpd sink (0: no ceiling)")
    ] = DEFAULTS.sink_messages,
    warm: Annotated[int, typer.Option(help="messages sent first, not counted")] = DEFAULTS.warm,
    events_timeout: Annotated[
        float, typer.Option(help="seconds allowed for every lead.ingested to be seen")
    ] = DEFAULTS.events_timeout,
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = DEFAULTS.amqp_url,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the server's admin database")
    ] = DEFAULTS.pg_admin_dsn,
    results_dir: Annotated[Path, typer.Option(help="where the JSON figures go")] = (
        DEFAULTS.results_dir
    ),
) -> None:
    """Measure intake's SMTP listener: messages/s accepted, DATA end → lead.ingested."""
    if messages < 1 or connections < 1 or sink_messages < 0 or warm < 0:
        raise typer.BadParameter("counts must be positive")
    config = BenchConfig(
        amqp_url=amqp_url,
        pg_admin_dsn=pg_admin_dsn,
        messages=messages,
        connections=connections,
        sink_messages=sink_messages,
        warm=warm,
        events_timeout=events_timeout,
        results_dir=results_dir,
    )
    console = Console() if sys.stdout.isatty() else Console(width=160)
    asyncio.run(run(config, console))


if __name__ == "__main__":
    app()

"""What every benchmark run does around its measurements: clean up after itself whatever
happens, and measure the broker's raw ceiling of the same moment."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from rich.console import Console

from bench.common import cleanup
from bench.intake import raw


@asynccontextmanager
async def cleaned_up(
    *,
    stop: Callable[[], None],
    pg_admin_dsn: str,
    database: str | Iterable[str],
    amqp_url: str,
    namespace: str,
    console: Console,
    queues: Iterable[str] = (),
) -> AsyncIterator[None]:
    """Whatever happens: stop the service (or services), drop its database (or several),
    delete the namespace's queues and exchanges (quorum queues too, full or not)."""
    databases = [database] if isinstance(database, str) else list(database)
    try:
        yield
    finally:
        try:
            stop()
        finally:
            try:
                await cleanup.drop_databases(pg_admin_dsn, databases)
            finally:
                deleted, exchanges = await cleanup.delete_broker_names(amqp_url, namespace, queues)
                console.print(
                    f"cleaned up: database {', '.join(databases)}, namespace {namespace!r} "
                    f"({deleted} queues, {exchanges} exchanges)"
                )


async def raw_ceiling(
    *, amqp_url: str, namespace: str, messages: int, console: Console
) -> dict[str, Any]:
    """The broker's ceiling now, as bench/intake and bench/crm_queue measure it."""
    queue = f"{namespace}raw-ceiling"
    console.print(f"raw broker ceiling: {messages:,} messages")
    try:
        found = await raw.broker_ceiling(amqp_url, queue, messages)
    finally:
        await cleanup.delete_broker_names(amqp_url, namespace, [queue])
    return {"broker": dataclasses.asdict(found)}

"""Remove what a run created: a namespace's queues and exchanges, scratch databases."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterable

import aio_pika
import asyncpg

from shared.messaging.topology import Topology


def _rabbitmqctl(kind: str, prefix: str) -> set[str]:
    """Names starting with `prefix` as rabbitmqctl lists them; empty if it is unavailable."""
    if not prefix or shutil.which("rabbitmqctl") is None:
        return set()
    try:
        out = subprocess.run(  # noqa: S603
            ["rabbitmqctl", kind, "name", "-q", "--no-table-headers"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.strip() for line in out.splitlines() if line.strip().startswith(prefix)}


async def delete_broker_names(
    amqp_url: str, namespace: str, queues: Iterable[str] = ()
) -> tuple[int, int]:
    """Delete `queues` and every queue and exchange rabbitmqctl lists under the namespace, plus
    the namespace's shared exchanges; returns (queues, exchanges) deleted. Quorum queues go
    whether or not they are empty or consumed."""
    names = set(queues) | await asyncio.to_thread(_rabbitmqctl, "list_queues", namespace)
    topology = Topology(namespace)
    exchanges = {
        topology.events_exchange_name,
        topology.dead_letter_exchange_name,
        topology.unrouted_name,
    } | await asyncio.to_thread(_rabbitmqctl, "list_exchanges", namespace)
    connection = await aio_pika.connect(amqp_url)
    deleted = [0, 0]
    try:
        for index, (group, kind) in enumerate(((names, "queue"), (exchanges, "exchange"))):
            for name in sorted(group):
                # A failed delete closes the channel: one channel per name.
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    if kind == "queue":
                        await channel.queue_delete(name, if_unused=False, if_empty=False)
                    else:
                        await channel.exchange_delete(name)
                    deleted[index] += 1
                with contextlib.suppress(Exception):
                    await channel.close()
    finally:
        await connection.close()
    return deleted[0], deleted[1]


async def drop_databases(admin_dsn: str, names: Iterable[str]) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        for name in names:
            quoted = name.replace('"', '""')
            await conn.execute(f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
    finally:
        await conn.close()


def database_url(admin_dsn: str, name: str) -> str:
    """The DSN of database `name` on the server of `admin_dsn`."""
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"

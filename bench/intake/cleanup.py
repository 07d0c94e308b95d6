"""Remove what a run created: its namespaced queues and exchanges, its scratch databases."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any, cast

import aio_pika
import asyncpg

from shared.messaging.topology import Topology


def expected_queues(namespace: str) -> set[str]:
    """The queues intake declares under `namespace` (its consumers, their .dlq, unrouted)."""
    from faststream.rabbit import RabbitBroker

    from intake.entrypoints import amqp

    names: set[str] = set()
    topology = Topology(namespace, record=names)
    consumer_queues = amqp.register(RabbitBroker(), topology, cast(Any, None), cast(Any, None))
    names.update(topology.dead_letter_queue_name(q) for q in consumer_queues)
    names.add(topology.unrouted_name)
    return names


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
    amqp_url: str, namespace: str, extra_queues: Iterable[str] = ()
) -> tuple[int, int]:
    """Delete every queue and exchange of the namespace; returns (queues, exchanges) deleted."""
    queues = expected_queues(namespace) | set(extra_queues)
    queues |= await asyncio.to_thread(_rabbitmqctl, "list_queues", namespace)
    topology = Topology(namespace)
    exchanges = {
        topology.events_exchange_name,
        topology.dead_letter_exchange_name,
        topology.unrouted_name,
    } | await asyncio.to_thread(_rabbitmqctl, "list_exchanges", namespace)
    connection = await aio_pika.connect(amqp_url)
    deleted = [0, 0]
    try:
        for index, (names, kind) in enumerate(((queues, "queue"), (exchanges, "exchange"))):
            for name in sorted(names):
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

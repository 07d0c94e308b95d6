"""`uv run python -m bench.outbox [--events N] [--rounds N]`: the outbox relay on its own.

Fills a scratch database's outbox with `--events` rows of ~1 KiB (COPY, so the filling costs
nothing measurable), then lets one `OutboxRelay` drain them to a quorum queue with confirms, as
a service's relay would after a burst. Prints events/s and the relay's own CPU per event
(process time: Python, aiormq, asyncpg and the kernel's socket work). Every service's events go
through this relay, so its CPU per event is part of every figure of `bench.intake`.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Annotated

import aio_pika
import asyncpg
import typer
import uvloop
from sqlalchemy import MetaData

from bench.common import defaults
from shared.db import create_engine
from shared.messaging.topology import Topology
from shared.outbox import OutboxRelay
from shared.tables import add_messaging_tables

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)

_COLUMNS = ["event_id", "routing_key", "body", "headers", "correlation_id"]


def _rows(n: int) -> list[tuple[object, ...]]:
    body = json.dumps({"event_type": "lead.ingested", "data": {"comments": "x" * 900}}).encode()
    headers = json.dumps(
        {"event_type": "lead.ingested", "event_version": 1, "tenant_id": "t", "producer": "bench"}
    )
    return [(uuid.uuid4(), "lead.ingested.v1", body, headers, str(uuid.uuid4())) for _ in range(n)]


async def _round(
    database_url: str, dsn: str, amqp_url: str, topology: Topology, n: int
) -> tuple[float, float]:
    """Drain `n` fresh rows; returns (events/s, relay CPU µs per event)."""
    pg = await asyncpg.connect(dsn)
    try:
        await pg.copy_records_to_table("outbox_message", records=_rows(n), columns=_COLUMNS)
    finally:
        await pg.close()
    engine = create_engine(database_url)
    relay = OutboxRelay(engine, amqp_url, topology, batch_size=500)
    try:
        await relay.purge()  # connects the engine; the broker connection opens on first publish
        cpu, wall = time.process_time(), time.perf_counter()
        drained = await relay.drain()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await relay.close()
        await engine.dispose()
    assert drained == n, f"drained {drained} of {n}"
    return n / wall, 1e6 * cpu / n


async def _run(events: int, rounds: int, amqp_url: str, pg_admin_dsn: str) -> None:
    run_id = uuid.uuid4().hex[:8]
    database = f"bench_outbox_{run_id}"
    topology = Topology(namespace=f"bench{run_id}.")
    admin = await asyncpg.connect(pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    base = pg_admin_dsn.rsplit("/", 1)[0]
    database_url = base.replace("postgresql://", "postgresql+asyncpg://") + f"/{database}"
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    try:
        exchange = await channel.declare_exchange(
            topology.events_exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            f"{topology.namespace}sink", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, "#")
        engine = create_engine(database_url)
        metadata = MetaData()
        add_messaging_tables(metadata)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await engine.dispose()
        rates, cpus = [], []
        for i in range(rounds):
            rate, cpu = await _round(database_url, f"{base}/{database}", amqp_url, topology, events)
            await queue.purge()
            rates.append(rate)
            cpus.append(cpu)
            print(f"round {i + 1}: {events:,} events, {rate:,.0f} events/s, {cpu:.0f} µs CPU/event")
        print(
            f"median of {rounds}: {statistics.median(rates):,.0f} events/s, "
            f"{statistics.median(cpus):.0f} µs of relay CPU per event"
        )
    finally:
        await channel.queue_delete(f"{topology.namespace}sink")
        await channel.exchange_delete(topology.events_exchange_name)
        await connection.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


@app.command()
def main(
    events: Annotated[int, typer.Option(help="outbox rows per round")] = 20_000,
    rounds: Annotated[int, typer.Option(help="rounds (the median is printed)")] = 3,
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = defaults.AMQP_URL,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the admin database")
    ] = defaults.PG_ADMIN_DSN,
) -> None:
    """Drain a full outbox through the relay and print events/s and CPU per event."""
    uvloop.run(_run(events, rounds, amqp_url, pg_admin_dsn))


if __name__ == "__main__":
    app()

"""`uv run python -m bench.outbox [--events N] [--rounds N] [--per-commit K]`: the outbox relay on
its own, beside a raw aio-pika publisher of the same run.

Each round, in turn: the raw publisher sends `--events` ~1 KiB messages (the same bodies,
properties and headers the relay sends) to the same quorum queue, with publisher confirms, 500
in flight; then the relay publishes as many outbox rows. Both print events/s and CPU per event;
the ratios are relay ÷ raw of the same round, so the machine's noise mostly cancels out.

- backlog (default): the outbox is filled by COPY first (costing nothing measured), then one
  `OutboxRelay` in this process drains it, in batches of 500, as after a burst; CPU is this
  process's time during the drain.
- live (`--per-commit K`): the relay runs as a service runs it, in a child process
  (`shared.relay_process.RelayProcess`), woken by each commit's NOTIFY, while this process
  commits K events per transaction from 4 connections: K=1 is a JSON lead, K=1000 a bulk batch.
  CPU is the child's, from the first commit to the last confirm.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import aio_pika
import asyncpg
import psutil
import typer
import uvloop
from sqlalchemy import MetaData

from bench.common import defaults
from shared.db import create_engine
from shared.messaging.publish import PERSISTENT, Properties, publish_confirmed
from shared.messaging.topology import Topology
from shared.outbox import NOTIFY_CHANNEL, OutboxRelay
from shared.relay_process import RelayProcess
from shared.tables import add_messaging_tables

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)

_COLUMNS = ["event_id", "routing_key", "body", "headers", "correlation_id"]
_HEADERS: dict[str, Any] = {
    "event_type": "lead.ingested",
    "event_version": 1,
    "tenant_id": "t",
    "producer": "bench",
}
_BODY = json.dumps({"event_type": "lead.ingested", "data": {"comments": "x" * 900}}).encode()
_WINDOW = 500  # messages in flight: the relay's batch size
_PRODUCERS = 4  # connections committing at once in the live mode


@dataclass(frozen=True)
class Figures:
    events_per_s: float
    cpu_us_per_event: float


def _rows(n: int) -> list[tuple[object, ...]]:
    headers = json.dumps(_HEADERS)
    return [(uuid.uuid4(), "lead.ingested.v1", _BODY, headers, str(uuid.uuid4())) for _ in range(n)]


async def _raw_round(amqp_url: str, exchange: str, n: int) -> Figures:
    """The ceiling: aio-pika's channel, the relay's publish call, nothing read from a database."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        ids = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(n)]
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, n, _WINDOW):
            await asyncio.gather(
                *(
                    publish_confirmed(
                        channel,
                        _BODY,
                        exchange=exchange,
                        routing_key="lead.ingested.v1",
                        properties=Properties(
                            message_id=message_id,
                            correlation_id=correlation_id,
                            headers=dict(_HEADERS),
                            content_type="application/json",
                            message_type="lead.ingested",
                            delivery_mode=PERSISTENT,
                        ),
                    )
                    for message_id, correlation_id in ids[start : start + _WINDOW]
                )
            )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await connection.close()
    return Figures(n / wall, 1e6 * cpu / n)


async def _backlog_round(
    database_url: str, dsn: str, amqp_url: str, topology: Topology, n: int
) -> Figures:
    """Drain `n` fresh rows with a relay in this process."""
    pg = await asyncpg.connect(dsn)
    try:
        await pg.copy_records_to_table("outbox_message", records=_rows(n), columns=_COLUMNS)
    finally:
        await pg.close()
    engine = create_engine(database_url)
    relay = OutboxRelay(engine, amqp_url, topology, batch_size=_WINDOW)
    try:
        await relay.purge()  # connects the engine; the broker connection opens on first publish
        cpu, wall = time.process_time(), time.perf_counter()
        drained = await relay.drain()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await relay.close()
        await engine.dispose()
    assert drained == n, f"drained {drained} of {n}"
    return Figures(n / wall, 1e6 * cpu / n)


async def _published(pg: asyncpg.Connection, poll: float) -> None:
    """Until no row is pending (the relay is another process: polling is the only way)."""
    query = "SELECT EXISTS (SELECT 1 FROM outbox_message WHERE published_at IS NULL)"
    while await pg.fetchval(query):  # noqa: ASYNC110 (another process: nothing to await)
        await asyncio.sleep(poll)


async def _produce(dsn: str, n: int, per_commit: int) -> None:
    """Commit `n` rows, `per_commit` a transaction with its NOTIFY, as a unit of work does."""
    insert = (
        "INSERT INTO outbox_message (event_id, routing_key, body, headers, correlation_id) "
        "VALUES ($1, $2, $3, $4::jsonb, $5)"
    )

    async def producer(count: int) -> None:
        pg = await asyncpg.connect(dsn)
        try:
            for start in range(0, count, per_commit):
                rows = _rows(min(per_commit, count - start))
                async with pg.transaction():
                    await pg.executemany(insert, rows)
                    await pg.execute(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")
        finally:
            await pg.close()

    shares = [n // _PRODUCERS + (1 if i < n % _PRODUCERS else 0) for i in range(_PRODUCERS)]
    await asyncio.gather(*(producer(share) for share in shares if share))


async def _live_round(
    database_url: str, dsn: str, amqp_url: str, topology: Topology, n: int, per_commit: int
) -> Figures:
    """`n` events committed `per_commit` at a time while a relay process publishes them."""
    relay = RelayProcess(database_url, amqp_url, topology, batch_size=_WINDOW, poll_seconds=1.0)
    relay.start()
    pg = await asyncpg.connect(dsn)
    try:
        await _produce(dsn, 1, 1)  # the relay is up, connected and has published once
        await _published(pg, 0.05)
        assert relay.pid is not None
        child = psutil.Process(relay.pid)
        before, wall = child.cpu_times(), time.perf_counter()
        await _produce(dsn, n, per_commit)
        await _published(pg, 0.01)
        after, wall = child.cpu_times(), time.perf_counter() - wall
    finally:
        await pg.close()
        await asyncio.to_thread(relay.stop)
    cpu = (after.user + after.system) - (before.user + before.system)
    return Figures(n / wall, 1e6 * cpu / n)


def _show(name: str, f: Figures) -> str:
    return f"{name} {f.events_per_s:,.0f} events/s, {f.cpu_us_per_event:.0f} µs CPU/event"


async def _run(
    events: int, rounds: int, per_commit: int | None, amqp_url: str, pg_admin_dsn: str
) -> None:
    run_id = uuid.uuid4().hex[:8]
    database = f"bench_outbox_{run_id}"
    topology = Topology(namespace=f"bench{run_id}.")
    admin = await asyncpg.connect(pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    base = pg_admin_dsn.rsplit("/", 1)[0]
    dsn = f"{base}/{database}"
    database_url = base.replace("postgresql://", "postgresql+asyncpg://") + f"/{database}"
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    mode = f"live, {per_commit} per commit" if per_commit else "backlog"
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
        found: dict[str, list[Any]] = {"raw": [], "relay": [], "cpu": [], "rate": []}
        for i in range(rounds):
            raw = await _raw_round(amqp_url, topology.events_exchange_name, events)
            await queue.purge()
            if per_commit:
                relay = await _live_round(database_url, dsn, amqp_url, topology, events, per_commit)
            else:
                relay = await _backlog_round(database_url, dsn, amqp_url, topology, events)
            await queue.purge()
            cpu_ratio = relay.cpu_us_per_event / raw.cpu_us_per_event
            rate_ratio = relay.events_per_s / raw.events_per_s
            for key, value in zip(found, (raw, relay, cpu_ratio, rate_ratio), strict=True):
                found[key].append(value)
            print(
                f"round {i + 1} ({mode}, {events:,} events): {_show('raw', raw)}; "
                f"{_show('relay', relay)}; relay ÷ raw: CPU/event {cpu_ratio:.2f}, "
                f"events/s {rate_ratio:.2f}"
            )
        med = statistics.median
        print(
            f"median of {rounds} ({mode}): raw {med(f.events_per_s for f in found['raw']):,.0f} "
            f"events/s, {med(f.cpu_us_per_event for f in found['raw']):.0f} µs CPU/event; "
            f"relay {med(f.events_per_s for f in found['relay']):,.0f} events/s, "
            f"{med(f.cpu_us_per_event for f in found['relay']):.0f} µs CPU/event; "
            f"relay ÷ raw: CPU/event {med(found['cpu']):.2f} "
            f"({min(found['cpu']):.2f}-{max(found['cpu']):.2f}), "
            f"events/s {med(found['rate']):.2f} "
            f"({min(found['rate']):.2f}-{max(found['rate']):.2f})"
        )
    finally:
        await channel.queue_delete(f"{topology.namespace}sink")
        await channel.exchange_delete(topology.events_exchange_name)
        await connection.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


@app.command()
def main(
    events: Annotated[int, typer.Option(help="events per round, for each publisher")] = 20_000,
    rounds: Annotated[int, typer.Option(help="rounds (the median is printed)")] = 3,
    per_commit: Annotated[
        int | None,
        typer.Option(help="live mode: events per committed transaction (1: a JSON lead)"),
    ] = None,
    amqp_url: Annotated[str, typer.Option(envvar="FORECOURT_AMQP_URL")] = defaults.AMQP_URL,
    pg_admin_dsn: Annotated[
        str, typer.Option(help="asyncpg DSN of the admin database")
    ] = defaults.PG_ADMIN_DSN,
) -> None:
    """Publish through the relay and a raw publisher; print events/s, CPU per event, ratios."""
    uvloop.run(_run(events, rounds, per_commit, amqp_url, pg_admin_dsn))


if __name__ == "__main__":
    app()

"""Transactional outbox: events are rows written with the state change, then relayed.

`outbox_row()` turns an envelope into a row the unit of work inserts in its own transaction, with
a `pg_notify` so the relay wakes at commit instead of polling. `OutboxRelay` claims pending rows
with `FOR UPDATE SKIP LOCKED` (any number of replicas), publishes a batch with pipelined
publisher confirms, marks what the broker confirmed and backs off what it did not: a row leaves
the outbox only after a confirm without a return.

The relay publishes with aio-pika on a connection of its own rather than through the service's
faststream broker: measured, faststream's publish path costs ~0.8 ms of CPU per message and
shares its channel with the consumers, which starved the relay under HTTP load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any, Protocol, cast
from uuid import UUID

import aio_pika
import aiormq
import asyncpg
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import observability
from shared.db import CLAIM_BY_INDEX, asyncpg_dsn
from shared.messaging import reconnect
from shared.messaging.publish import PERSISTENT, Properties, underlay
from shared.messaging.topology import Topology
from shared.notify import listen

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "forecourt_outbox"


class OutgoingEvent(Protocol):
    """What the outbox needs of an envelope (`shared.contracts.Envelope` is one)."""

    @property
    def event_id(self) -> UUID: ...
    @property
    def event_type(self) -> str: ...
    @property
    def event_version(self) -> int: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def producer(self) -> str: ...
    @property
    def correlation_id(self) -> str: ...

    def to_json_bytes(self) -> bytes: ...


def outbox_row(event: OutgoingEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "routing_key": f"{event.event_type}.v{event.event_version}",
        "body": event.to_json_bytes(),
        "headers": {
            "event_type": event.event_type,
            "event_version": event.event_version,
            "tenant_id": event.tenant_id,
            "producer": event.producer,
        },
        "correlation_id": event.correlation_id,
    }


_INSERT = text(
    "INSERT INTO outbox_message (event_id, routing_key, body, headers, correlation_id) "
    "VALUES (:event_id, :routing_key, :body, CAST(:headers AS jsonb), :correlation_id)"
)
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")

# The relay runs its statements on the driver's (asyncpg's) connection of a pooled SQLAlchemy
# connection: per batch, three round trips, each a cached prepared statement or a short script,
# and no SQLAlchemy result rows (it was five round trips through SQLAlchemy's execute, row and
# JSON processing: a fixed cost per batch, and a JSON lead's batch is often one event).
#
# 1. BEGIN with the planner settings of `shared.db.CLAIM_BY_INDEX`, in one simple-query script;
# 2. the claim (`FOR UPDATE SKIP LOCKED`: any number of replicas; rows locked until the commit);
# 3. after the broker's confirms: the mark and the COMMIT, in one script (row ids are integers
#    read from the database, written in the script as a literal array).
_BEGIN_CLAIM = "BEGIN; " + str(CLAIM_BY_INDEX)
_CLAIM = (
    "SELECT id, event_id, routing_key, body, headers::text, correlation_id, attempts "
    "FROM outbox_message WHERE published_at IS NULL AND available_at <= now() "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_MARK_PUBLISHED = "UPDATE outbox_message SET published_at = now() WHERE id = ANY('{%s}'::bigint[])"
_MARK_FAILED = (
    "UPDATE outbox_message SET attempts = attempts + 1, last_error = $2, "
    "available_at = now() + make_interval(secs => $3) WHERE id = ANY($1::bigint[])"
)
_PURGE = text(
    "DELETE FROM outbox_message WHERE id IN (SELECT id FROM outbox_message "
    "WHERE published_at < now() - make_interval(secs => :age) LIMIT 5000)"
)
# Parsed headers by their JSON text: a service writes few distinct ones (event type, tenant,
# producer), so a batch parses each once. Bounded: cleared when it grows past this.
_HEADER_CACHE_SIZE = 1024


RETRY_CAP_SECONDS = 2.0


def retry_delay(attempts: int) -> float:
    """Seconds before a failed row is tried again: short, since the broker is usually back soon,
    and at most RETRY_CAP_SECONDS, so rows an outage held go out within that of its end."""
    return float(min(0.2 * 2**attempts, RETRY_CAP_SECONDS))


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        amqp_url: str,
        topology: Topology,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retention: timedelta = timedelta(days=2),
        publish_timeout: float = 10.0,
    ) -> None:
        self._engine = engine
        self._amqp_url = amqp_url
        self._topology = topology
        self._exchange = topology.events_exchange_name
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retention = retention
        self._publish_timeout = publish_timeout
        self._headers: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Called after a local commit that wrote outbox rows."""
        self._wake.set()

    async def _events_channel(self) -> aiormq.Channel:
        if self._channel is None:
            if self._connection is None:
                self._connection = await reconnect.connect(
                    self._amqp_url, connect_timeout=self._publish_timeout
                )
            # Confirms for every publish; a mandatory message no queue takes raises.
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        return await underlay(self._channel)

    def _parsed_headers(self, raw: str | None) -> dict[str, Any]:
        if raw is None:
            return {}
        headers = self._headers.get(raw)
        if headers is None:
            if len(self._headers) >= _HEADER_CACHE_SIZE:
                self._headers.clear()
            headers = self._headers[raw] = json.loads(raw)
        return headers

    def _publish(self, channel: aiormq.Channel, row: asyncpg.Record) -> Awaitable[Any]:
        # The row's body as stored (the envelope's JSON, serialised once, at the commit).
        _, event_id, routing_key, body, headers_json, correlation_id, _ = row
        headers = self._parsed_headers(headers_json)
        return channel.basic_publish(
            body,
            exchange=self._exchange,
            routing_key=routing_key,
            properties=Properties(
                message_id=str(event_id),
                correlation_id=correlation_id,
                headers=headers,
                content_type="application/json",
                message_type=headers.get("event_type"),
                delivery_mode=PERSISTENT,
            ),
            mandatory=True,
            timeout=self._publish_timeout,
            wait=False,
        )

    async def publish_batch(self) -> int:
        """Publish one batch of due rows; returns how many were claimed."""
        async with self._engine.connect() as pooled:
            conn = cast(asyncpg.Connection, (await pooled.get_raw_connection()).driver_connection)
            try:
                done, failed, claimed = await self._claim_publish_mark(conn)
            except BaseException:
                # The connection may hold the open transaction, or be broken: never give it back
                # to the pool like that (the claim's locks go with it).
                await pooled.invalidate()
                raise
        # After the commit: rows published but not marked would be published again.
        observability.relay_published(done, failed)
        return claimed

    async def _claim_publish_mark(self, conn: asyncpg.Connection) -> tuple[int, int, int]:
        await conn.execute(_BEGIN_CLAIM)
        rows = await conn.fetch(_CLAIM, self._batch_size)
        if not rows:
            await conn.execute("COMMIT")
            return 0, 0, 0
        try:
            channel = await self._events_channel()
        except Exception as exc:  # broker unreachable: every row waits for the next try
            results: list[BaseException | Any] = [exc] * len(rows)
        else:
            # All at once pipelines the confirms: one round trip, not one per row; frames go
            # out in claim (id) order.
            results = await asyncio.gather(
                *(self._publish(channel, row) for row in rows), return_exceptions=True
            )
        done: list[int] = []
        failed: list[tuple[asyncpg.Record, BaseException]] = []
        for row, res in zip(rows, results, strict=True):
            if isinstance(res, BaseException):
                failed.append((row, res))
            else:
                done.append(row[0])
        if failed:
            first = failed[0][1]
            log.warning("outbox: %d of %d not confirmed: %r", len(failed), len(rows), first)
            await conn.execute(
                _MARK_FAILED,
                [row[0] for row, _ in failed],
                repr(first)[:500],
                retry_delay(min(row[6] for row, _ in failed)),
            )
        if done:
            await conn.execute(_MARK_PUBLISHED % ",".join(map(str, done)) + "; COMMIT")
        else:
            await conn.execute("COMMIT")
        return len(done), len(failed), len(rows)

    async def drain(self) -> int:
        """Publish until nothing is due; returns rows claimed."""
        total = 0
        while True:
            n = await self.publish_batch()
            total += n
            if n < self._batch_size:
                return total

    async def purge(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_PURGE, {"age": self._retention.total_seconds()})

    async def _listen(self) -> None:
        """Wake on NOTIFY from any replica's commit."""
        dsn = asyncpg_dsn(self._engine.url.render_as_string(hide_password=False))
        await listen(dsn, NOTIFY_CHANNEL, self._wake, self._stopping)

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen())
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    await self.drain()
                    if loop.time() - last_purge > 600:
                        await self.purge()
                        last_purge = loop.time()
                except Exception as exc:  # the database or broker is down: keep trying
                    log.warning("outbox relay: %r", exc)
                    await asyncio.sleep(1.0)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._connection = None
        self._channel = None


@contextlib.asynccontextmanager
async def standalone_relay(
    database_url: str, amqp_url: str, topology: Topology, **options: Any
) -> AsyncIterator[OutboxRelay]:
    """A relay with an engine and a broker connection of its own (on a thread or in a process of
    its own), closed on the way out."""
    from shared.db import create_engine

    # One connection: the relay claims, publishes and marks one batch at a time (its LISTEN
    # connection is a second, outside the pool).
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    relay = OutboxRelay(engine, amqp_url, topology, **options)
    try:
        yield relay
    finally:
        await relay.close()
        await engine.dispose()


class RelayThread:
    """An `OutboxRelay` on a thread of its own, with its own event loop and engine.

    In the service's loop the relay waits behind every request in flight: measured at
    saturation, events lagged the HTTP answers by over a second. On its own loop it only
    competes for the GIL, which it holds briefly (its work is mostly I/O).
    """

    def __init__(self, database_url: str, amqp_url: str, topology: Topology, **options: Any):
        self._database_url = database_url
        self._amqp_url = amqp_url
        self._topology = topology
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._relay: OutboxRelay | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(timeout=30)

    def _main(self) -> None:
        # uvloop, like the service's own loop under uvicorn: with asyncio's pure-Python
        # transports, socket writes to the broker were a third of the relay's CPU.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(self._run())

    async def _run(self) -> None:
        async with standalone_relay(
            self._database_url, self._amqp_url, self._topology, **self._options
        ) as relay:
            self._relay = relay
            self._loop = asyncio.get_running_loop()
            self._started.set()
            await relay.run()

    def wake(self) -> None:
        if self._loop is not None and self._relay is not None:
            self._loop.call_soon_threadsafe(self._relay.wake)

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._relay is not None:
            self._loop.call_soon_threadsafe(self._relay.stop)
        self._thread.join(timeout)

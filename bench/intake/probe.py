"""A consumer in its own process that timestamps every message it receives.

Its own process (spawned, own event loop) so that the load generator's busy loop does not delay
the receive timestamps. Times are `time.monotonic()`: CLOCK_MONOTONIC is system-wide on Linux,
so they compare with the send times taken in the parent process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

# (event_type, lead_id, tenant_id, monotonic receive time)
Record = tuple[str, str | None, str | None, float]

ACK_EVERY = 200
ACK_FLUSH_SECONDS = 0.05


@dataclass(frozen=True)
class ProbeSpec:
    amqp_url: str
    queue: str
    # None: consume `queue` as it is fed (default exchange); else bind it to this topic exchange.
    exchange: str | None = None
    exchange_arguments: dict[str, Any] | None = None
    binding_keys: tuple[str, ...] = ("#",)
    prefetch: int = 2000
    # The field a record is keyed by (dotted path into the envelope): the lead id, or e.g.
    # "payload.person.email" when the sender knows the person but not the lead id.
    key: str = "lead_id"


def identify(body: bytes, key: str = "lead_id") -> tuple[str, str | None, str | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return "unparsable", None, None
    value: Any = data
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return str(data.get("event_type")), str(value) if value else None, data.get("tenant_id")


class _Acker:
    """Acks with multiple=True every ACK_EVERY messages, and whatever is left every 50 ms."""

    def __init__(self) -> None:
        self._last: AbstractIncomingMessage | None = None
        self._pending = 0

    async def delivered(self, message: AbstractIncomingMessage) -> None:
        self._last = message
        self._pending += 1
        if self._pending >= ACK_EVERY:
            await self.flush()

    async def flush(self) -> None:
        if self._last is not None and self._pending:
            last, self._last, self._pending = self._last, None, 0
            await last.ack(multiple=True)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(ACK_FLUSH_SECONDS)
            await self.flush()


async def _declare(channel: aio_pika.abc.AbstractChannel, spec: ProbeSpec) -> Any:
    queue = await channel.declare_queue(
        spec.queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    if spec.exchange is not None:
        exchange = await channel.declare_exchange(
            spec.exchange,
            aio_pika.ExchangeType.TOPIC,
            durable=True,
            arguments=spec.exchange_arguments,
        )
        for key in spec.binding_keys:
            await queue.bind(exchange, key)
    return queue


def _command_handler(
    conn: Connection, records: list[Record], stop: asyncio.Event
) -> Callable[[], None]:
    def on_command() -> None:
        command = conn.recv()
        if command == "drain":
            conn.send(list(records))
            records.clear()
        elif command == "stop":
            stop.set()

    return on_command


async def _serve(spec: ProbeSpec, conn: Connection) -> None:
    connection = await aio_pika.connect(spec.amqp_url)
    records: list[Record] = []
    acker = _Acker()
    stop = asyncio.Event()
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=spec.prefetch)
        queue = await _declare(channel, spec)

        async def on_message(message: AbstractIncomingMessage) -> None:
            received = time.monotonic()
            records.append((*identify(message.body, spec.key), received))
            await acker.delivered(message)

        await queue.consume(on_message)
        flusher = asyncio.create_task(acker.run())
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), _command_handler(conn, records, stop))
        conn.send("ready")
        await stop.wait()
        loop.remove_reader(conn.fileno())
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await acker.flush()
    finally:
        await connection.close()
        conn.send("stopped")


def _main(spec: ProbeSpec, conn: Connection) -> None:
    try:
        asyncio.run(_serve(spec, conn))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(f"error: {exc!r}")
        raise


class Probe:
    """The parent's handle on a probe process."""

    def __init__(self, spec: ProbeSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.spec = spec
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_main, args=(spec, child), daemon=True)
        self._lock = asyncio.Lock()

    async def _recv(self, wait_s: float) -> Any:
        if not await asyncio.to_thread(self._conn.poll, wait_s):
            raise TimeoutError(f"probe on {self.spec.queue} did not answer in {wait_s}s")
        return self._conn.recv()

    async def start(self, wait_s: float = 30.0) -> None:
        self._process.start()
        answer = await self._recv(wait_s)
        if answer != "ready":
            raise RuntimeError(f"probe on {self.spec.queue} failed to start: {answer}")

    async def drain(self) -> list[Record]:
        async with self._lock:
            self._conn.send("drain")
            records: list[Record] = await self._recv(30.0)
            return records

    async def stop(self) -> None:
        if not self._process.is_alive():
            return
        with contextlib.suppress(Exception):
            self._conn.send("stop")
            await self._recv(10.0)
        await asyncio.to_thread(self._process.join, 5.0)
        if self._process.is_alive():
            self._process.terminate()
            await asyncio.to_thread(self._process.join, 5.0)

    @property
    def pid(self) -> int | None:
        return self._process.pid


@dataclass
class Seen:
    """What the parent collected from a probe: first receive time per (event type, lead id)."""

    first: dict[tuple[str, str], float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    last: float = 0.0

    def add(self, records: list[Record], tenant: str | None = None) -> None:
        for event_type, lead_id, tenant_id, received in records:
            if tenant is not None and tenant_id != tenant:
                continue
            self.counts[event_type] += 1
            self.last = max(self.last, received)
            if lead_id is not None:
                self.first.setdefault((event_type, lead_id), received)

    def count(self, *event_types: str) -> int:
        return sum(self.counts[t] for t in event_types)


async def collect(
    probe: Probe,
    done: Callable[[Seen], bool],
    *,
    tenant: str | None = None,
    seen: Seen | None = None,
    wait_s: float = 120.0,
    poll: float = 0.1,
    on_progress: Callable[[Seen], None] | None = None,
) -> tuple[Seen, bool]:
    """Drain the probe into `seen` until `done(seen)` or `wait_s` seconds; returns (seen, whether
    done)."""
    seen = seen if seen is not None else Seen()
    deadline = time.monotonic() + wait_s
    while True:
        seen.add(await probe.drain(), tenant)
        if on_progress is not None:
            on_progress(seen)
        if done(seen):
            return seen, True
        if time.monotonic() > deadline:
            return seen, False
        await asyncio.sleep(poll)

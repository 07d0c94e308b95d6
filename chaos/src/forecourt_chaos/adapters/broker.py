"""The harness on the private broker, directly (not through the services' proxy): the raw leads
it pushes to `forecourt.intake.raw`, the audit queue that keeps a copy of every lead event, and
the dead letters it reads back at the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from forecourt_chaos.adapters.databases import LEAD_EVENTS, event_type
from forecourt_chaos.domain.accounting import DeadLetter, Event
from shared.messaging.topology import Topology

AUDIT_QUEUE = "chaos.audit"
_READ_PREFETCH = 1000


class RawPublisher:
    """Leads over AMQP as another system pushes them: persistent, mandatory, confirmed, with
    the idempotency key as `message_id`. A failed publish drops the connection; the next
    publish opens a new one."""

    def __init__(self, amqp_url: str, queue: str) -> None:
        self._url = amqp_url
        self._queue = queue
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def _open(self) -> aio_pika.abc.AbstractChannel:
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                await self.close()
                self._connection = await asyncio.wait_for(aio_pika.connect(self._url), 10)
                self._channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
            return self._channel

    async def publish(self, body: bytes, message_id: str, api_key: str, wait_s: float) -> None:
        """Returns once the broker confirmed; raises otherwise."""
        try:
            channel = await self._open()
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    message_id=message_id,
                    headers={"x-api-key": api_key},
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=self._queue,
                mandatory=True,
                timeout=wait_s,
            )
        except BaseException:
            broken, self._channel = self._channel, None
            if broken is not None:
                with contextlib.suppress(Exception):
                    await broken.close()
            raise

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)


async def declare_audit(amqp_url: str, topology: Topology) -> None:
    """A quorum queue bound to every lead event, declared once the services declared the
    events exchange: what the broker confirmed to intake's relay must be in it."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.events_exchange_name, ensure=True)
        queue = await channel.declare_queue(
            AUDIT_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        for key in LEAD_EVENTS:
            await queue.bind(exchange, key)
    finally:
        await connection.close()


async def ready_counts(amqp_url: str, names: Iterable[str]) -> dict[str, int]:
    """Messages ready in each queue (a passive declare: cheap, unlike rabbitmqctl, but blind
    to messages a consumer holds unacknowledged)."""
    counts = {}
    connection = await asyncio.wait_for(aio_pika.connect(amqp_url), 10)
    try:
        channel = await connection.channel()
        for name in names:
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:  # gone: the channel closes with it
                channel = await connection.channel()
                continue
            counts[name] = queue.declaration_result.message_count or 0
    finally:
        await connection.close()
    return counts


@dataclass(frozen=True)
class Letter:
    queue: str
    body: bytes
    message_id: str | None
    headers: dict[str, Any]


async def read_all(amqp_url: str, names: Iterable[str], idle_s: float = 5.0) -> list[Letter]:
    """Every message of the queues `names` (nothing consumes them), taken off them and acked
    in groups; a queue is done when all it held are read, or nothing came for `idle_s`."""
    out: list[Letter] = []
    connection = await aio_pika.connect(amqp_url)
    try:
        for name in names:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=_READ_PREFETCH)
            queue = await channel.declare_queue(name, passive=True)
            held = queue.declaration_result.message_count or 0
            last: AbstractIncomingMessage | None = None
            read = 0
            async with queue.iterator() as messages:
                while read < held:
                    try:
                        message = await asyncio.wait_for(anext(messages), idle_s)
                    except TimeoutError:
                        break
                    out.append(
                        Letter(name, message.body, message.message_id, dict(message.headers))
                    )
                    read += 1
                    last = message
                    if read % (_READ_PREFETCH // 2) == 0:
                        await message.ack(multiple=True)
                        last = None
                if last is not None:
                    await last.ack(multiple=True)
            await channel.close()
    finally:
        await connection.close()
    return out


def _envelope(body: bytes) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, dict):
            return data
    return {}


def audit_events(letters: Iterable[Letter]) -> list[Event]:
    events = []
    for letter in letters:
        data = _envelope(letter.body)
        if data.get("event_id") and data.get("lead_id"):
            kind = event_type(str(data.get("event_type", "")))
            events.append(Event(str(data["event_id"]), kind, str(data["lead_id"])))
    return events


def _reason(headers: dict[str, Any]) -> str:
    for key in ("x-forecourt-error", "x-first-death-reason"):
        value = headers.get(key)
        if value:
            return value.decode() if isinstance(value, bytes) else str(value)
    return "unknown"


def dead_letters(letters: Iterable[Letter], raw_queue: str) -> list[DeadLetter]:
    out = []
    for letter in letters:
        reason = _reason(letter.headers)
        if letter.queue.startswith(raw_queue):
            out.append(DeadLetter(letter.queue, reason, key=letter.message_id))
            continue
        data = _envelope(letter.body)
        lead_id = data.get("lead_id")
        kind = event_type(str(data.get("event_type", ""))) if data else None
        out.append(DeadLetter(letter.queue, reason, lead_id=lead_id, event_type=kind))
    return out

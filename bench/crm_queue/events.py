"""`lead.ingested` events built with shared.contracts, published with confirms; queue depth."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from shared.contracts import LeadIngestedV1, PersonV1, SourceRefV1, VehicleV1, new_envelope

FIRST_NAMES = ("Olivia", "Liam", "Emma", "Noah", "Charlotte", "William", "Amelia", "Lucas")
LAST_NAMES = ("Tremblay", "Smith", "Roy", "Gagnon", "Brown", "Lee", "Wilson", "Nguyen")
VEHICLES = (("Toyota", "RAV4"), ("Honda", "Civic"), ("Ford", "F-150"), ("Hyundai", "Tucson"))
SOURCE = SourceRefV1(source_id="bench-source", kind="marketplace", name="Bench marketplace")


@dataclass(frozen=True)
class Event:
    """One serialised `lead.ingested` envelope, ready to publish."""

    lead_id: str
    dealership_id: str
    message_id: str
    routing_key: str
    body: bytes


def lead_ingested(
    index: int, run: str, tenant: str, dealership: str, received_at: datetime | None = None
) -> Event:
    """The `index`-th lead of the run: a distinct person (email, +1 phone), a vehicle."""
    make, model = VEHICLES[index % len(VEHICLES)]
    payload = LeadIngestedV1(
        sequence=1,
        source=SOURCE,
        received_at=received_at or datetime.now(UTC),
        person=PersonV1(
            first_name=FIRST_NAMES[index % len(FIRST_NAMES)],
            last_name=LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)],
            email=f"lead.{run}.{index}@example.com",
            phone=f"+1{416_000_0000 + index % 10_000_000}",
        ),
        vehicle=VehicleV1(year=2020 + index % 6, make=make, model=model, condition="used"),
        comments="Is it still available? I would like to book a test drive.",
    )
    envelope = new_envelope(payload, tenant_id=tenant, dealership_id=dealership, lead_id=uuid4())
    return Event(
        lead_id=str(envelope.lead_id),
        dealership_id=dealership,
        message_id=str(envelope.event_id),
        routing_key=envelope.routing_key,
        body=envelope.to_json_bytes(),
    )


class Publisher:
    """aio-pika on its own connection: publisher confirms, persistent messages, into the events
    exchange the service declared (looked up passively, so its arguments are the service's)."""

    def __init__(self, amqp_url: str, exchange: str) -> None:
        self._url = amqp_url
        self._exchange_name = exchange
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None

    async def open(self) -> None:
        self._connection = await aio_pika.connect(self._url)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.get_exchange(self._exchange_name, ensure=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def publish(self, event: Event) -> None:
        """Returns once the broker confirmed the message."""
        assert self._exchange is not None, "open() first"
        await self._exchange.publish(
            aio_pika.Message(
                event.body,
                message_id=event.message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
            ),
            routing_key=event.routing_key,
        )

    async def publish_all(
        self, events: Iterable[Event], in_flight: int, on_done: Callable[[], None]
    ) -> int:
        """Publish with up to `in_flight` unconfirmed; returns how many were confirmed. Raises
        the first error once every publish has finished."""
        slots = asyncio.Semaphore(in_flight)
        pending: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []
        confirmed = 0

        async def one(event: Event) -> None:
            nonlocal confirmed
            try:
                await self.publish(event)
                confirmed += 1
                on_done()
            except Exception as exc:
                errors.append(exc)
            finally:
                slots.release()

        for event in events:
            await slots.acquire()
            if errors:
                slots.release()
                break
            task = asyncio.create_task(one(event))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        if errors:
            raise RuntimeError(f"{len(errors)} publishes failed") from errors[0]
        return confirmed


@dataclass(frozen=True)
class Depth:
    messages: int  # ready (not yet delivered, or requeued); unacked ones are not counted
    consumers: int


class QueueWatcher:
    """Passive declares of one queue on a connection of its own: ready messages, consumers."""

    def __init__(self, amqp_url: str, queue: str) -> None:
        self._url = amqp_url
        self.queue = queue
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None

    async def open(self) -> None:
        self._connection = await aio_pika.connect(self._url)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def depth(self, queue: str | None = None) -> Depth | None:
        """None if the queue does not exist (the failed declare closed the channel: reopen)."""
        assert self._connection is not None, "open() first"
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel()
        try:
            declared = await self._channel.declare_queue(queue or self.queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            self._channel = None
            return None
        result = declared.declaration_result
        return Depth(int(result.message_count or 0), int(result.consumer_count or 0))

    async def wait_for(self, messages: int, wait_s: float) -> Depth | None:
        """Poll until at least `messages` are ready (a quorum queue's count can lag the
        confirms a little) or `wait_s` passes; the last depth seen."""
        deadline = time.monotonic() + wait_s
        depth = await self.depth()
        while (depth is None or depth.messages < messages) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                depth = await self.depth()
        return depth

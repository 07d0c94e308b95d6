"""One consumer queue per event type, each handled by a use case `handler(uow, envelope, now)`:
the shape of the services whose consumers take one event at a time (assignment, recovery)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from faststream.rabbit.annotations import RabbitMessage

from shared.clock import Clock
from shared.contracts import Envelope, parse_envelope
from shared.messaging.consumer import subscribe
from shared.runtime import Runtime

U = TypeVar("U")
EventHandler = Callable[[U, Envelope[Any], datetime], Awaitable[None]]


def register_event_handlers(
    runtime: Runtime,
    consumer: str,
    consumes: Sequence[tuple[str, EventHandler[U]]],
    uows: Callable[[], U],
    clock: Clock,
) -> list[str]:
    """Subscribe `consumer`'s queue of each routing key of `consumes` (bound to the events
    exchange) to its handler, given a new unit of work and the clock's now; the queue names."""

    def parse(body: bytes, _message: RabbitMessage) -> Envelope[Any]:
        return parse_envelope(body)

    def bind(handler: EventHandler[U]) -> Callable[[Envelope[Any]], Awaitable[None]]:
        async def handle(envelope: Envelope[Any]) -> None:
            await handler(uows(), envelope, clock.now())

        return handle

    names = []
    for routing_key, handler in consumes:
        queue = runtime.topology.consumer_queue(consumer, routing_key)
        subscribe(
            runtime.broker,
            runtime.broker,
            runtime.topology,
            queue,
            parse=parse,
            handle=bind(handler),
            exchange=runtime.topology.events_exchange(),
        )
        names.append(queue.name)
    return names

"""One consumer queue per event type, each handled by a use case `handler(uow, envelope, now)`:
the shape of the services whose consumers take one event at a time (assignment, recovery); and
a busy event type handled a batch per transaction, `handler(uow, envelopes, now)`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from faststream.rabbit.annotations import RabbitMessage

from shared.clock import Clock
from shared.contracts import Envelope, parse_envelope
from shared.messaging.batch import subscribe_batch
from shared.messaging.consumer import subscribe
from shared.runtime import Runtime

U = TypeVar("U")
EventHandler = Callable[[U, Envelope[Any], datetime], Awaitable[None]]
BatchHandler = Callable[[U, list[Envelope[Any]], datetime], Awaitable[None]]


def _parse(body: bytes, _message: RabbitMessage) -> Envelope[Any]:
    return parse_envelope(body)


def register_event_handlers(
    runtime: Runtime,
    consumer: str,
    consumes: Sequence[tuple[str, EventHandler[U]]],
    uows: Callable[[], U],
    clock: Clock,
) -> list[str]:
    """Subscribe `consumer`'s queue of each routing key of `consumes` (bound to the events
    exchange) to its handler, given a new unit of work and the clock's now; the queue names."""

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
            parse=_parse,
            handle=bind(handler),
            exchange=runtime.topology.events_exchange(),
        )
        names.append(queue.name)
    return names


def register_batch_handler(
    runtime: Runtime,
    consumer: str,
    routing_key: str,
    handler: BatchHandler[U],
    uows: Callable[[], U],
    clock: Clock,
    *,
    max_batch: int,
) -> str:
    """Subscribe `consumer`'s queue of `routing_key` to a handler of up to `max_batch` events
    in one unit of work (`subscribe_batch`: a failing batch is retried one event at a time);
    the queue's name."""

    async def handle(envelopes: list[Envelope[Any]]) -> None:
        await handler(uows(), envelopes, clock.now())

    queue = runtime.topology.consumer_queue(consumer, routing_key)
    subscribe_batch(
        runtime.broker,
        runtime.broker,
        runtime.topology,
        queue,
        parse=_parse,
        handle=handle,
        exchange=runtime.topology.events_exchange(),
        max_batch=max_batch,
    )
    return queue.name

"""recovery's consumers: losses start runs; new enquiries end them (the person came back);
erasures stop and scrub them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from faststream.rabbit.annotations import RabbitMessage

from recovery.service_layer import handlers
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope, parse_envelope
from shared.messaging.consumer import subscribe
from shared.runtime import Runtime

Handler = Callable[[RecoveryUnitOfWork, Envelope[Any], datetime], Awaitable[None]]

CONSUMES: tuple[tuple[str, Handler], ...] = (
    ("lead.lost.v1", handlers.on_lead_lost),
    ("prospect.lost.v1", handlers.on_prospect_lost),
    ("lead.ingested.v1", handlers.on_lead_ingested),
    ("lead.duplicate.v1", handlers.on_lead_duplicate),
    ("person.erased.v1", handlers.on_person_erased),
)


def register(runtime: Runtime, uows: Callable[[], RecoveryUnitOfWork], clock: Clock) -> list[str]:
    def parse(body: bytes, _message: RabbitMessage) -> Envelope[Any]:
        return parse_envelope(body)

    def bind(handler: Handler) -> Callable[[Envelope[Any]], Awaitable[None]]:
        async def handle(envelope: Envelope[Any]) -> None:
            await handler(uows(), envelope, clock.now())

        return handle

    names = []
    for routing_key, handler in CONSUMES:
        queue = runtime.topology.consumer_queue(handlers.CONSUMER, routing_key)
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

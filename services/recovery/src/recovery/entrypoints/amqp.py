"""recovery's consumers: losses start runs; new enquiries end them (the person came back);
erasures stop and scrub them. `lead.ingested`, by far the busiest, is handled a batch at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from faststream.rabbit.annotations import RabbitMessage

from recovery.service_layer import handlers
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope, parse_envelope
from shared.messaging.batch import subscribe_batch
from shared.messaging.handlers import register_event_handlers
from shared.runtime import Runtime

Handler = Callable[[RecoveryUnitOfWork, Envelope[Any], datetime], Awaitable[None]]

INGESTED = "lead.ingested.v1"
CONSUMES: tuple[tuple[str, Handler], ...] = (
    ("lead.lost.v1", handlers.on_lead_lost),
    ("prospect.lost.v1", handlers.on_prospect_lost),
    ("lead.duplicate.v1", handlers.on_lead_duplicate),
    ("person.erased.v1", handlers.on_person_erased),
)


def register(
    runtime: Runtime,
    uows: Callable[[], RecoveryUnitOfWork],
    clock: Clock,
    *,
    max_batch: int = 50,
) -> list[str]:
    """Every new lead reaches recovery (to know the person if they come back): a backlog of
    them is handled a batch per transaction; a failing batch again one event at a time."""

    def parse(body: bytes, _message: RabbitMessage) -> Envelope[Any]:
        return parse_envelope(body)

    async def on_leads_ingested(envelopes: list[Envelope[Any]]) -> None:
        await handlers.on_leads_ingested(uows(), envelopes, clock.now())

    queue = runtime.topology.consumer_queue(handlers.CONSUMER, INGESTED)
    subscribe_batch(
        runtime.broker,
        runtime.broker,
        runtime.topology,
        queue,
        parse=parse,
        handle=on_leads_ingested,
        exchange=runtime.topology.events_exchange(),
        max_batch=max_batch,
    )
    return [queue.name, *register_event_handlers(runtime, handlers.CONSUMER, CONSUMES, uows, clock)]

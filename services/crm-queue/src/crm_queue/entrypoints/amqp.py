"""crm-queue's consumers: a new lead opens a task, a duplicate raises it, a batch at a time;
an erasure scrubs the person and lead.dead stops every contact, one event at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faststream.rabbit.annotations import RabbitMessage

from crm_queue.service_layer import dead, erasure, handlers
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope, parse_envelope
from shared.messaging.batch import subscribe_batch
from shared.messaging.consumer import subscribe
from shared.runtime import Runtime


def register(
    runtime: Runtime,
    uows: Callable[[], CrmUnitOfWork],
    clock: Clock,
    *,
    max_batch: int = 50,
) -> list[str]:
    """Both queues share one batch handler (events of either kind, in one transaction); a
    failing batch is handled again one event at a time by the same handler."""

    def parse(body: bytes, _message: RabbitMessage) -> Envelope[Any]:
        return parse_envelope(body)

    async def on_lead_events(envelopes: list[Envelope[Any]]) -> None:
        await handlers.on_lead_events(uows(), envelopes, clock.now())

    names = []
    for routing_key in ("lead.ingested.v1", "lead.duplicate.v1"):
        queue = runtime.topology.consumer_queue(handlers.CONSUMER, routing_key)
        subscribe_batch(
            runtime.broker,
            runtime.broker,
            runtime.topology,
            queue,
            parse=parse,
            handle=on_lead_events,
            exchange=runtime.topology.events_exchange(),
            max_batch=max_batch,
        )
        names.append(queue.name)

    async def on_person_erased(envelope: Envelope[Any]) -> None:
        await erasure.on_person_erased(uows(), envelope, clock.now())

    async def on_lead_dead(envelope: Envelope[Any]) -> None:
        await dead.on_lead_dead(uows(), envelope, clock.now())

    for routing_key, handle in (
        ("person.erased.v1", on_person_erased),
        ("lead.dead.v1", on_lead_dead),
    ):
        queue = runtime.topology.consumer_queue(handlers.CONSUMER, routing_key)
        subscribe(
            runtime.broker,
            runtime.broker,
            runtime.topology,
            queue,
            parse=parse,
            handle=handle,
            exchange=runtime.topology.events_exchange(),
        )
        names.append(queue.name)
    return names

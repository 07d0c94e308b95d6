"""crm-queue's consumers: a new lead opens a task, a duplicate raises it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faststream.rabbit.annotations import RabbitMessage

from crm_queue.service_layer import handlers
from crm_queue.service_layer.unit_of_work import CrmUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope, parse_envelope
from shared.messaging.consumer import subscribe
from shared.runtime import Runtime


def register(runtime: Runtime, uows: Callable[[], CrmUnitOfWork], clock: Clock) -> list[str]:
    def parse(body: bytes, _message: RabbitMessage) -> Envelope[Any]:
        return parse_envelope(body)

    async def on_lead_ingested(envelope: Envelope[Any]) -> None:
        await handlers.on_lead_ingested(uows(), envelope, clock.now())

    async def on_lead_duplicate(envelope: Envelope[Any]) -> None:
        await handlers.on_lead_duplicate(uows(), envelope, clock.now())

    names = []
    for routing_key, handle in (
        ("lead.ingested.v1", on_lead_ingested),
        ("lead.duplicate.v1", on_lead_duplicate),
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

"""metrics' consumers: one queue per event type of the registry (`metrics.<routing key>`), all
projected by the same handler. Events of one lead travel on different queues and arrive in any
order; the projection does not mind."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faststream.rabbit.annotations import RabbitMessage
from pydantic import TypeAdapter, ValidationError

from metrics.entrypoints.observe import Observer
from metrics.service_layer.projector import CONSUMER, project_many
from metrics.service_layer.unit_of_work import MetricsUnitOfWork
from shared.contracts import ALL_ROUTING_KEYS, Envelope, parse_envelope
from shared.messaging.batch import subscribe_batch
from shared.messaging.consumer import PoisonMessage
from shared.runtime import Runtime

_BODY: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])

Parsed = tuple[Envelope[Any], Mapping[str, Any]]


def parse(body: bytes, _message: RabbitMessage) -> Parsed:
    # PostgreSQL refuses NUL in text and JSON: no valid event carries one.
    if b"\\u0000" in body or b"\x00" in body:
        raise PoisonMessage("a NUL character in the event")
    return parse_envelope(body), _BODY.validate_json(body)


def register(
    runtime: Runtime,
    uows: Callable[[], MetricsUnitOfWork],
    observer: Observer,
    *,
    max_batch: int = 50,
) -> list[str]:
    """Every queue is consumed a batch per transaction (`subscribe_batch`): the events of a
    tenant's day share rollup rows, so one transaction per event queued on their locks (the
    60-minute soak of 2026-12-02 fell behind at 15 leads/s); a failing batch is handled again
    one event at a time, and a poison event dead-lettered alone."""

    def observed(routing_key: str) -> Callable[[list[Parsed]], Awaitable[None]]:
        async def handle(batch: list[Parsed]) -> None:
            started = time.perf_counter()
            try:
                fresh = await project_many(uows(), batch)
            except (PoisonMessage, ValidationError, ValueError):
                if len(batch) == 1:  # else the batch is tried again one by one
                    observer.dead_lettered.labels(routing_key).inc()
                raise
            except Exception:
                observer.failures.labels(routing_key).inc()
                raise
            took = (time.perf_counter() - started) / len(batch)
            for envelope, _raw in batch:
                observer.latency.labels(routing_key).observe(took)
                new = envelope.event_id in fresh
                observer.consumed.labels(routing_key, "new" if new else "duplicate").inc()

        return handle

    def parse_observed(routing_key: str) -> Callable[[bytes, RabbitMessage], Parsed]:
        def run(body: bytes, message: RabbitMessage) -> Parsed:
            try:
                return parse(body, message)
            except Exception:
                observer.dead_lettered.labels(routing_key).inc()
                raise

        return run

    names = []
    for routing_key in ALL_ROUTING_KEYS:
        queue = runtime.topology.consumer_queue(CONSUMER, routing_key)
        subscribe_batch(
            runtime.broker,
            runtime.broker,
            runtime.topology,
            queue,
            parse=parse_observed(routing_key),
            handle=observed(routing_key),
            exchange=runtime.topology.events_exchange(),
            max_batch=max_batch,
        )
        names.append(queue.name)
    return names

"""recovery's consumers: losses start runs; new enquiries end them (the person came back);
erasures stop and scrub them. `lead.ingested`, by far the busiest, is handled a batch at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from recovery.service_layer import handlers
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope
from shared.messaging.handlers import register_batch_handler, register_event_handlers
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

    batched = register_batch_handler(
        runtime,
        handlers.CONSUMER,
        INGESTED,
        handlers.on_leads_ingested,
        uows,
        clock,
        max_batch=max_batch,
    )
    return [batched, *register_event_handlers(runtime, handlers.CONSUMER, CONSUMES, uows, clock)]

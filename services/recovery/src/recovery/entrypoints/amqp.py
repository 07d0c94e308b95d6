"""recovery's consumers: losses start runs; new enquiries end them (the person came back);
erasures stop and scrub them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from recovery.service_layer import handlers
from recovery.service_layer.unit_of_work import RecoveryUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope
from shared.messaging.handlers import register_event_handlers
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
    return register_event_handlers(runtime, handlers.CONSUMER, CONSUMES, uows, clock)

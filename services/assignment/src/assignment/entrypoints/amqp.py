"""assignment's consumers: a qualified lead or a reactivated one becomes a prospect to assign;
an erasure scrubs the person."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from assignment.service_layer import handlers
from assignment.service_layer.unit_of_work import AssignmentUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope
from shared.messaging.handlers import register_event_handlers
from shared.runtime import Runtime

Handler = Callable[[AssignmentUnitOfWork, Envelope[Any], datetime], Awaitable[None]]

CONSUMES: tuple[tuple[str, Handler], ...] = (
    ("lead.qualified.v1", handlers.on_lead_qualified),
    ("lead.reactivated.v1", handlers.on_lead_reactivated),
    ("person.erased.v1", handlers.on_person_erased),
)


def register(runtime: Runtime, uows: Callable[[], AssignmentUnitOfWork], clock: Clock) -> list[str]:
    return register_event_handlers(runtime, handlers.CONSUMER, CONSUMES, uows, clock)

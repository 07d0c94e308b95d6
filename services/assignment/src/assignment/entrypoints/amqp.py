"""assignment's consumers: qualified leads become prospects to assign, a batch at a time; a
reactivated lead is one again, a new enquiry of a prospect's person is an activity on it, an
erasure scrubs the person, and lead.dead marks its prospect do-not-contact, one event at a
time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from assignment.service_layer import handlers
from assignment.service_layer.unit_of_work import AssignmentUnitOfWork
from shared.clock import Clock
from shared.contracts import Envelope
from shared.messaging.handlers import register_batch_handler, register_event_handlers
from shared.runtime import Runtime

Handler = Callable[[AssignmentUnitOfWork, Envelope[Any], datetime], Awaitable[None]]

QUALIFIED = "lead.qualified.v1"
CONSUMES: tuple[tuple[str, Handler], ...] = (
    ("lead.reactivated.v1", handlers.on_lead_reactivated),
    # A person's new enquiry on their open prospect (stage prospect; the others are skipped).
    ("lead.duplicate.v1", handlers.on_lead_duplicate),
    ("person.erased.v1", handlers.on_person_erased),
    ("lead.dead.v1", handlers.on_lead_dead),
)


def register(
    runtime: Runtime,
    uows: Callable[[], AssignmentUnitOfWork],
    clock: Clock,
    *,
    max_batch: int = 50,
) -> list[str]:
    """A backlog of qualifications is handled a batch per transaction (one inbox claim, one
    lock and pool per dealership, one commit); a failing batch again one event at a time."""

    batched = register_batch_handler(
        runtime,
        handlers.CONSUMER,
        QUALIFIED,
        handlers.on_leads_qualified,
        uows,
        clock,
        max_batch=max_batch,
    )
    return [batched, *register_event_handlers(runtime, handlers.CONSUMER, CONSUMES, uows, clock)]

"""The task's domain events mapped to the public contract (shared.contracts.crm_queue)."""

from __future__ import annotations

from typing import Any, Final, Literal

from crm_queue.domain.events import DomainEvent
from crm_queue.domain.task import Task
from shared.contracts import Envelope, new_envelope, payload_class

PRODUCER: Final[Literal["crm-queue"]] = "crm-queue"
VERSION = 1


def to_envelope(
    event: DomainEvent,
    *,
    causation: Envelope[Any] | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope[Any]:
    payload = payload_class(event.event_type, VERSION).model_validate(event.payload())
    return new_envelope(
        payload,
        tenant_id=event.tenant_id,
        producer=PRODUCER,
        dealership_id=event.dealership_id,
        lead_id=event.lead_id,
        caused_by=causation,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )


def collect(
    task: Task, *, causation: Envelope[Any] | None = None, causation_id: str | None = None
) -> list[Envelope[Any]]:
    """The task's pending events as envelopes (handed over once), in the lead's chain.

    `causation` is the event being handled; `causation_id` the id of the event that caused
    this work when it is not at hand (a timer's, kept in its payload). Agents' commands have
    neither: their events carry only the lead's correlation id.
    """
    return [
        to_envelope(
            e, causation=causation, correlation_id=task.correlation_id, causation_id=causation_id
        )
        for e in task.pull_events()
    ]

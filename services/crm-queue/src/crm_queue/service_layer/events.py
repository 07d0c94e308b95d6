"""The task's domain events mapped to the public contract (shared.contracts.crm_queue)."""

from __future__ import annotations

from typing import Any, Final, Literal

from crm_queue.domain.events import DomainEvent
from crm_queue.domain.task import Task
from shared.contracts import Envelope, new_envelope, payload_class

PRODUCER: Final[Literal["crm-queue"]] = "crm-queue"
VERSION = 1


def to_envelope(event: DomainEvent, *, causation: Envelope[Any] | None = None) -> Envelope[Any]:
    payload = payload_class(event.event_type, VERSION).model_validate(event.payload())
    return new_envelope(
        payload,
        tenant_id=event.tenant_id,
        producer=PRODUCER,
        dealership_id=event.dealership_id,
        lead_id=event.lead_id,
        caused_by=causation,
    )


def collect(task: Task, *, causation: Envelope[Any] | None = None) -> list[Envelope[Any]]:
    """The task's pending events as envelopes (handed over once)."""
    return [to_envelope(e, causation=causation) for e in task.pull_events()]

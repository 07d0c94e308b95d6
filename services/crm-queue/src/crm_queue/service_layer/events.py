"""The task's domain events mapped to the public contract (shared.contracts.crm_queue)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final, Literal

from crm_queue.domain.events import DomainEvent
from crm_queue.domain.task import Task
from shared.contracts import Envelope, new_envelope, payload_class

PRODUCER: Final[Literal["crm-queue"]] = "crm-queue"
VERSION = 1


# A prospect whose appointment is this close must be acted on at once (assignment: 24 h SLA).
HOT_APPOINTMENT_WITHIN = timedelta(hours=24)
_APPOINTMENT_KINDS = {"appointment.showroom": "showroom", "appointment.test_drive": "test_drive"}


def _lead_facts(row: Any) -> dict[str, Any]:
    """The person and first enquiry the task keeps. The task keeps neither the source's kind
    and campaign nor trade-ins nor merged enquiries' vehicles: those stay empty until it
    stores them."""
    enquiry = {
        "received_at": row.received_at,
        "source_id": row.source_id,
        "source_name": row.source_name,
        "vehicle": row.vehicle,
        "comments": row.comments,
    }
    return {"person": row.person or None, "enquiries": [enquiry]}


def qualified_facts(row: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What `lead.qualified` carries beyond the task's decision, from the lead facts the task
    keeps (person, first enquiry), so assignment never reads crm-queue's data."""
    facts = _lead_facts(row)
    at, kind = payload.get("appointment_at"), _APPOINTMENT_KINDS.get(str(payload["outcome"]))
    if at is not None and kind is not None and at > payload["qualified_at"]:
        facts["appointment"] = {"at": at, "kind": kind}
        soon = at - payload["qualified_at"] <= HOT_APPOINTMENT_WITHIN
        facts["hot"] = bool(payload.get("hot")) or soon
    return facts


def lost_facts(row: Any, task: Task) -> dict[str, Any]:
    """What `lead.lost` carries for recovery: who, what they asked about, the channels that
    do not work (never tried again) and whether anyone ever reached them."""
    return _lead_facts(row) | {
        "unusable_channels": sorted(row.unusable_channels or ()),
        "reached": any(a.outcome == "reached" for a in task.attempts),
    }


def _extra(task: Task, row: Any, event: DomainEvent) -> dict[str, Any] | None:
    if row is None:
        return None
    if event.event_type == "lead.qualified":
        return qualified_facts(row, event.payload())
    if event.event_type == "lead.lost":
        return lost_facts(row, task)
    return None


def to_envelope(
    event: DomainEvent,
    *,
    causation: Envelope[Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope[Any]:
    data = event.payload() | dict(extra or {})
    payload = payload_class(event.event_type, VERSION).model_validate(data)
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
    task: Task,
    *,
    causation: Envelope[Any] | None = None,
    causation_id: str | None = None,
    row: Any = None,
) -> list[Envelope[Any]]:
    """The task's pending events as envelopes (handed over once), in the lead's chain.

    `causation` is the event being handled; `causation_id` the id of the event that caused
    this work when it is not at hand (a timer's, kept in its payload). Agents' commands have
    neither: their events carry only the lead's correlation id. `row`, the task as stored,
    adds the lead facts to `lead.qualified` and `lead.lost`.
    """
    return [
        to_envelope(
            e,
            causation=causation,
            correlation_id=task.correlation_id,
            causation_id=causation_id,
            extra=_extra(task, row, e),
        )
        for e in task.pull_events()
    ]

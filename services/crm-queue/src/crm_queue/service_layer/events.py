"""The task's domain events mapped to the public contract (shared.contracts.crm_queue)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _enquiry(row: Any) -> dict[str, Any]:
    """One recorded enquiry (crm-queue's `enquiry` row) as the contract's EnquiryV1."""
    source = row.source or {}
    return {
        "received_at": row.received_at,
        "source_id": source.get("source_id"),
        "source_kind": source.get("kind"),
        "source_name": source.get("name"),
        "campaign": source.get("campaign"),
        "vehicle": row.vehicle,
        "trade_ins": row.trade_ins or [],
        "comments": row.comments,
    }


def _lead_facts(row: Any, enquiries: Sequence[Any] = ()) -> dict[str, Any]:
    """The person (with every enquiry's contact details) and every enquiry the task recorded,
    the lead's own first. A task older than the enquiry records has only its first enquiry's
    facts on the task row."""
    if enquiries:
        return {"person": row.person or None, "enquiries": [_enquiry(e) for e in enquiries]}
    enquiry = {
        "received_at": row.received_at,
        "source_id": row.source_id,
        "source_name": row.source_name,
        "vehicle": row.vehicle,
        "comments": row.comments,
    }
    return {"person": row.person or None, "enquiries": [enquiry]}


def qualified_facts(
    row: Any, payload: Mapping[str, Any], enquiries: Sequence[Any] = ()
) -> dict[str, Any]:
    """What `lead.qualified` carries beyond the task's decision, from the lead facts the task
    keeps (person, enquiries), so assignment never reads crm-queue's data."""
    facts = _lead_facts(row, enquiries)
    at, kind = payload.get("appointment_at"), _APPOINTMENT_KINDS.get(str(payload["outcome"]))
    if at is not None and kind is not None and at > payload["qualified_at"]:
        facts["appointment"] = {"at": at, "kind": kind}
        soon = at - payload["qualified_at"] <= HOT_APPOINTMENT_WITHIN
        facts["hot"] = bool(payload.get("hot")) or soon
    return facts


def lost_facts(row: Any, task: Task, enquiries: Sequence[Any] = ()) -> dict[str, Any]:
    """What `lead.lost` carries for recovery: who, what they asked about, the channels that
    do not work (never tried again) and whether anyone ever reached them."""
    return _lead_facts(row, enquiries) | {
        "unusable_channels": sorted(row.unusable_channels or ()),
        "reached": any(a.outcome == "reached" for a in task.attempts),
    }


def _extra(
    task: Task, row: Any, event: DomainEvent, enquiries: Sequence[Any]
) -> dict[str, Any] | None:
    if row is None:
        return None
    if event.event_type == "lead.qualified":
        return qualified_facts(row, event.payload(), enquiries)
    if event.event_type == "lead.lost":
        return lost_facts(row, task, enquiries)
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
    enquiries: Sequence[Any] = (),
) -> list[Envelope[Any]]:
    """The task's pending events as envelopes (handed over once), in the lead's chain.

    `causation` is the event being handled; `causation_id` the id of the event that caused
    this work when it is not at hand (a timer's, kept in its payload). Agents' commands have
    neither: their events carry only the lead's correlation id. `row`, the task as stored,
    adds the lead facts to `lead.qualified` and `lead.lost`, with its recorded `enquiries`.
    """
    return [
        to_envelope(
            e,
            causation=causation,
            correlation_id=task.correlation_id,
            causation_id=causation_id,
            extra=_extra(task, row, e, enquiries),
        )
        for e in task.pull_events()
    ]

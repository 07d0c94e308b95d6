"""Intake's domain results mapped to the public event contract (shared.contracts).

Every lead raises one of these, so they are written as plain dicts of the contract's fields and
serialised once (`shared.contracts.prepare_event`) rather than built as models: the models'
validation and construction were a fifth of a bulk row's CPU. What the dicts hold is what the
models would (every field, defaults included, datetimes in UTC): the contract test
`tests/contract/test_intake_events.py` reads each event back through its model and compares.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal
from uuid import UUID

from intake.adapters.repository import LeadState, SourceRow
from intake.domain.call import Call
from intake.domain.model import (
    DealershipPlace,
    FieldError,
    NormalisedLead,
    Rejection,
    Vehicle,
    shallow_dict,
)
from shared.contracts import (
    CallReceivedV1,
    Envelope,
    LeadDuplicateV1,
    LeadIngestedV1,
    LeadRejectedV1,
    PreparedEvent,
    new_envelope,
    prepare_event,
)
from shared.contracts.envelope import utc

if TYPE_CHECKING:
    from intake.service_layer.ingest import IncomingLead

PRODUCER: Final[Literal["intake"]] = "intake"


def source_ref(source: SourceRow, lead: NormalisedLead | None = None) -> dict[str, Any]:
    """`SourceRefV1`."""
    return {
        "source_id": str(source.id),
        "kind": source.kind,
        "name": source.name,
        "campaign": lead.campaign if lead else None,
        "channel": lead.channel if lead else None,
        "cost_per_lead": source.cost_per_lead,
        "currency": source.currency,
    }


def vehicle(v: Vehicle | None) -> dict[str, Any] | None:
    """`VehicleV1`: the domain's vehicle has the same fields."""
    return shallow_dict(v) if v is not None else None


def _trade_ins(lead: NormalisedLead) -> list[dict[str, Any]]:
    return [shallow_dict(t) for t in lead.trade_ins]


def _correlation(item: IncomingLead) -> str | None:
    if item.correlation_id:
        return item.correlation_id
    return str(item.raw_payload_id) if item.raw_payload_id else None


def person(lead: NormalisedLead) -> dict[str, Any]:
    """`PersonV1`."""
    c = lead.contact
    return {
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "phone": c.phone,
        "other_phones": list(c.other_phones),
    }


def _field_error(e: FieldError) -> dict[str, Any]:
    """`FieldErrorV1`."""
    return {"field": e.field, "reason": e.reason, "value": e.value}


def _requested_at(lead: NormalisedLead) -> Any:
    return utc(lead.requested_at) if lead.requested_at is not None else None


def lead_ingested(
    source: SourceRow,
    item: IncomingLead,
    dealership_id: UUID,
    lead: NormalisedLead,
    lead_id: UUID,
    place: DealershipPlace | None = None,
    *,
    previous_lead_id: UUID | None = None,
    do_not_contact: bool = False,
) -> PreparedEvent:
    payload = {
        "sequence": 1,
        "source": source_ref(source, lead),
        "received_at": utc(item.received_at),
        "requested_at": _requested_at(lead),
        "person": person(lead),
        "vehicle": vehicle(lead.vehicle),
        "trade_ins": _trade_ins(lead),
        "comments": lead.comments,
        "consent": shallow_dict(lead.consent),
        "lead_type": lead.lead_type,
        "provider": lead.provider,
        "source_lead_id": lead.source_lead_id,
        "extensions": lead.extensions,
        "warnings": [_field_error(w) for w in lead.warnings],
        "previous_lead_id": previous_lead_id,
        "dealership": {"timezone": place.timezone, "country": place.country}
        if place is not None
        else None,
        "do_not_contact": do_not_contact,
    }
    return prepare_event(
        LeadIngestedV1,
        payload,
        tenant_id=source.tenant_id,
        dealership_id=str(dealership_id),
        lead_id=lead_id,
        correlation_id=_correlation(item),
    )


def lead_duplicate_payload(
    source: SourceRow,
    item: IncomingLead,
    dealership_id: UUID,
    lead: NormalisedLead,
    state: LeadState,
    enquiry_id: UUID,
    matched_on: list[str],
    *,
    stage: str = "first_contact",
) -> dict[str, Any]:
    """`LeadDuplicateV1`, as a dict: intake also keeps it whole with the enquiry. `stage`:
    `prospect` when the lead is an open prospect (the enquiry is for its consultant)."""
    return {
        "sequence": state.sequence,
        "enquiry_id": enquiry_id,
        "source": source_ref(source, lead),
        "matched_on": list(matched_on),
        "received_at": utc(item.received_at),
        "vehicle": vehicle(lead.vehicle),
        "comments": lead.comments,
        # The enquiry whole, so the task shows it and its contact details join the lead's.
        "enquiry_dealership_id": str(dealership_id),
        "person": person(lead),
        "trade_ins": _trade_ins(lead),
        "consent": shallow_dict(lead.consent),
        "requested_at": _requested_at(lead),
        "lead_type": lead.lead_type,
        "source_lead_id": lead.source_lead_id,
        "stage": stage,
    }


def lead_duplicate(
    source: SourceRow,
    state: LeadState,
    item: IncomingLead,
    payload: dict[str, Any],
) -> PreparedEvent:
    return prepare_event(
        LeadDuplicateV1,
        payload,
        tenant_id=source.tenant_id,
        dealership_id=str(state.dealership_id),
        lead_id=state.id,
        correlation_id=_correlation(item),
    )


def lead_rejected(
    source: SourceRow,
    item: IncomingLead,
    dealership_id: UUID,
    rejection: Rejection,
    submission_id: UUID,
) -> PreparedEvent:
    payload = {
        "raw_payload_id": item.raw_payload_id or submission_id,
        "source": source_ref(source),
        "reason_code": rejection.code,
        "errors": [{"field": e.field, "reason": e.reason, "value": None} for e in rejection.errors],
        "received_at": utc(item.received_at),
    }
    return prepare_event(
        LeadRejectedV1,
        payload,
        tenant_id=source.tenant_id,
        dealership_id=str(dealership_id),
        correlation_id=_correlation(item),
    )


def call_received(
    source: SourceRow,
    raw_payload_id: UUID,
    received_at: datetime,
    call: Call,
    correlation_id: str,
) -> Envelope[Any]:
    """`call.received`: rare (a call notification by e-mail), so built as a model."""
    payload = CallReceivedV1.model_validate(
        {
            "raw_payload_id": raw_payload_id,
            "source": source_ref(source),
            "received_at": received_at,
            "called_at": call.called_at,
            "caller_phone": call.caller_phone,
            "caller_id": call.caller_id,
            "duration_seconds": call.duration_seconds,
            "recording_url": call.recording_url,
            "provider": call.provider,
            "summary": call.summary or None,
        }
    )
    return new_envelope(
        payload,
        tenant_id=source.tenant_id,
        producer=PRODUCER,
        dealership_id=str(source.dealership_id),
        correlation_id=correlation_id,
    )

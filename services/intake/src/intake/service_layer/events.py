"""Intake's domain results mapped to the public event contract (shared.contracts)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal
from uuid import UUID

from intake.adapters.repository import LeadState, SourceRow
from intake.domain.call import Call
from intake.domain.model import DealershipPlace, NormalisedLead, Rejection, Vehicle, shallow_dict
from shared.contracts import (
    CallReceivedV1,
    ConsentV1,
    DealershipPlaceV1,
    Envelope,
    FieldErrorV1,
    LeadDuplicateV1,
    LeadIngestedV1,
    LeadRejectedV1,
    PersonV1,
    SourceRefV1,
    VehicleV1,
    new_envelope,
)

if TYPE_CHECKING:
    from intake.service_layer.ingest import IncomingLead

PRODUCER: Final[Literal["intake"]] = "intake"


def source_ref(source: SourceRow, lead: NormalisedLead | None = None) -> SourceRefV1:
    return SourceRefV1(
        source_id=str(source.id),
        kind=source.kind,
        name=source.name,
        campaign=lead.campaign if lead else None,
        channel=lead.channel if lead else None,
        cost_per_lead=source.cost_per_lead,
        currency=source.currency,
    )


def vehicle(v: Vehicle | None) -> VehicleV1 | None:
    return VehicleV1(**shallow_dict(v)) if v is not None else None


def _correlation(item: IncomingLead) -> str | None:
    if item.correlation_id:
        return item.correlation_id
    return str(item.raw_payload_id) if item.raw_payload_id else None


def person(lead: NormalisedLead) -> PersonV1:
    c = lead.contact
    return PersonV1(
        first_name=c.first_name,
        last_name=c.last_name,
        email=c.email,
        phone=c.phone,
        other_phones=list(c.other_phones),
    )


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
) -> Envelope[Any]:
    payload = LeadIngestedV1(
        sequence=1,
        source=source_ref(source, lead),
        received_at=item.received_at,
        requested_at=lead.requested_at,
        person=person(lead),
        vehicle=vehicle(lead.vehicle),
        trade_ins=[v for t in lead.trade_ins if (v := vehicle(t)) is not None],
        comments=lead.comments,
        consent=ConsentV1(**shallow_dict(lead.consent)),
        lead_type=lead.lead_type,
        provider=lead.provider,
        source_lead_id=lead.source_lead_id,
        extensions=lead.extensions,
        warnings=[
            FieldErrorV1(field=w.field, reason=w.reason, value=w.value) for w in lead.warnings
        ],
        dealership=DealershipPlaceV1(timezone=place.timezone, country=place.country)
        if place is not None
        else None,
        previous_lead_id=previous_lead_id,
        do_not_contact=do_not_contact,
    )
    return new_envelope(
        payload,
        tenant_id=source.tenant_id,
        producer=PRODUCER,
        dealership_id=str(dealership_id),
        lead_id=lead_id,
        correlation_id=_correlation(item),
    )


def lead_duplicate(
    source: SourceRow,
    item: IncomingLead,
    dealership_id: UUID,
    lead: NormalisedLead,
    state: LeadState,
    enquiry_id: UUID,
    matched_on: list[str],
) -> Envelope[Any]:
    payload = LeadDuplicateV1(
        sequence=state.sequence,
        enquiry_id=enquiry_id,
        source=source_ref(source, lead),
        matched_on=matched_on,
        received_at=item.received_at,
        vehicle=vehicle(lead.vehicle),
        comments=lead.comments,
        # The enquiry whole, so the task shows it and its contact details join the lead's.
        enquiry_dealership_id=str(dealership_id),
        person=person(lead),
        trade_ins=[v for t in lead.trade_ins if (v := vehicle(t)) is not None],
        consent=ConsentV1(**shallow_dict(lead.consent)),
        requested_at=lead.requested_at,
        lead_type=lead.lead_type,
        source_lead_id=lead.source_lead_id,
    )
    return new_envelope(
        payload,
        tenant_id=source.tenant_id,
        producer=PRODUCER,
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
) -> Envelope[Any]:
    payload = LeadRejectedV1(
        raw_payload_id=item.raw_payload_id or submission_id,
        source=source_ref(source),
        reason_code=rejection.code,
        errors=[FieldErrorV1(field=e.field, reason=e.reason) for e in rejection.errors],
        received_at=item.received_at,
    )
    return new_envelope(
        payload,
        tenant_id=source.tenant_id,
        producer=PRODUCER,
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
    payload = CallReceivedV1(
        raw_payload_id=raw_payload_id,
        source=source_ref(source),
        received_at=received_at,
        called_at=call.called_at,
        caller_phone=call.caller_phone,
        caller_id=call.caller_id,
        duration_seconds=call.duration_seconds,
        recording_url=call.recording_url,
        provider=call.provider,
        summary=call.summary or None,
    )
    return new_envelope(
        payload,
        tenant_id=source.tenant_id,
        producer=PRODUCER,
        dealership_id=str(source.dealership_id),
        correlation_id=correlation_id,
    )

"""Intake's events, written as plain dicts (`intake.service_layer.events`), are what the contract's
models say: each is read back through `Envelope[<payload>]` and must come out unchanged (a field
missing, extra, or written otherwise than the model writes it fails), and passes its checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic_core import to_jsonable_python

from intake.adapters.repository import LeadState, SourceRow
from intake.domain.model import (
    Consent,
    Contact,
    DealershipPlace,
    FieldError,
    NormalisedLead,
    Rejection,
    Vehicle,
)
from intake.service_layer import events
from intake.service_layer.ingest import IncomingLead
from shared.contracts import (
    Envelope,
    LeadDuplicateV1,
    LeadIngestedV1,
    LeadRejectedV1,
    PreparedEvent,
    parse_envelope,
)
from shared.contracts.base import EventPayload

SOURCE = SourceRow(
    id=uuid4(),
    tenant_id="acme",
    dealership_id=uuid4(),
    name="Website form",
    kind="website",
    cost_per_lead=Decimal("12.50"),
    currency="CAD",
    active=True,
)
FULL = NormalisedLead(
    contact=Contact("Ann", "Roe", "Ann@example.com", "+15195550123", ("+15195550124",)),
    vehicle=Vehicle(
        year=2024,
        make="Volvo",
        model="XC60",
        condition="used",
        price=Decimal("41995.00"),
        currency="CAD",
        odometer=12000,
        odometer_units="km",
    ),
    trade_ins=(Vehicle(year=2015, make="Ford", model="Focus"), Vehicle(vin="1HGCM82633A004352")),
    comments="Is it still available?\n\nCall after 5",
    consent=Consent(email=True, sms=False),
    campaign="spring",
    channel="web",
    lead_type="sales",
    provider="AutoSite",
    # Written with the dealership's offset: the event says it in UTC.
    requested_at=datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
    source_lead_id="as-1",
    extensions={"utm": {"source": "x"}, "n": 3},
    warnings=(FieldError("phone", "not a phone number", "555-CALL"),),
)
BARE = NormalisedLead(contact=Contact(email="bo@example.org"))
ITEM = IncomingLead(
    submission=None,  # type: ignore[arg-type]  # the events never read it
    received_at=datetime(2026, 3, 1, 15, 0, tzinfo=timezone(timedelta(hours=1))),
    raw_payload_id=uuid4(),
)
PLACE = DealershipPlace(country="CA", timezone="America/Toronto")


def _read_back(event: PreparedEvent, payload_class: type[EventPayload]) -> dict[str, Any]:
    """The event as the model reads it; asserts the model writes it back the same."""
    written = json.loads(event.to_json_bytes())
    model = Envelope[payload_class].model_validate_json(event.to_json_bytes())  # type: ignore[valid-type]
    assert model.model_dump(mode="json") == written
    assert parse_envelope(event.to_json_bytes()).payload == model.payload  # the registry's way
    assert (model.event_id, model.event_type, model.event_version) == (
        event.event_id,
        event.event_type,
        event.event_version,
    )
    assert (model.tenant_id, model.producer, model.correlation_id) == (
        event.tenant_id,
        event.producer,
        event.correlation_id,
    )
    return written


@pytest.mark.parametrize("lead", [FULL, BARE], ids=["full", "bare"])
@pytest.mark.parametrize("place", [PLACE, None], ids=["place", "no-place"])
def test_lead_ingested_is_the_model_s_json(lead: NormalisedLead, place: DealershipPlace) -> None:
    lead_id, previous = uuid4(), uuid4()
    event = events.lead_ingested(
        SOURCE, ITEM, SOURCE.dealership_id, lead, lead_id, place, previous_lead_id=previous
    )
    written = _read_back(event, LeadIngestedV1)
    assert written["lead_id"] == str(lead_id)
    assert written["correlation_id"] == str(ITEM.raw_payload_id)
    assert written["payload"]["received_at"] == "2026-03-01T14:00:00Z"
    if lead is FULL:
        assert written["payload"]["requested_at"] == "2026-03-01T14:30:00Z"
        assert written["payload"]["vehicle"]["price"] == "41995.00"
        assert written["payload"]["source"]["cost_per_lead"] == "12.50"


@pytest.mark.parametrize("stage", ["first_contact", "prospect"])
@pytest.mark.parametrize("lead", [FULL, BARE], ids=["full", "bare"])
def test_lead_duplicate_is_the_model_s_json_and_kept_whole_as_written(
    lead: NormalisedLead, stage: str
) -> None:
    state = LeadState(
        id=uuid4(),
        dealership_id=uuid4(),
        email="ann@example.com",
        phone=None,
        last_enquiry_at=datetime.now(UTC),
        enquiry_count=2,
        sequence=2,
        status="open",
    )
    payload = events.lead_duplicate_payload(
        SOURCE, ITEM, SOURCE.dealership_id, lead, state, uuid4(), ["email"], stage=stage
    )
    written = _read_back(events.lead_duplicate(SOURCE, state, ITEM, payload), LeadDuplicateV1)
    assert written["payload"]["stage"] == stage
    assert written["lead_id"] == str(state.id)
    assert written["dealership_id"] == str(state.dealership_id)
    # What intake keeps with the enquiry is the event's payload, as the model would dump it.
    assert to_jsonable_python(payload) == written["payload"]
    assert LeadDuplicateV1.model_validate(to_jsonable_python(payload)).model_dump(
        mode="json"
    ) == to_jsonable_python(payload)


def test_lead_rejected_is_the_model_s_json() -> None:
    rejection = Rejection(
        "invalid.personal_data",
        (FieldError("email", "missing"), FieldError("phone", "not a phone number")),
    )
    submission_id = uuid4()
    event = events.lead_rejected(SOURCE, ITEM, SOURCE.dealership_id, rejection, submission_id)
    written = _read_back(event, LeadRejectedV1)
    assert written["lead_id"] is None
    assert written["payload"]["raw_payload_id"] == str(ITEM.raw_payload_id)
    assert UUID(written["event_id"]) == event.event_id

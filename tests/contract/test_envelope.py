"""Envelopes survive the wire, read tolerantly, and refuse what would corrupt consumers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from shared.contracts import (
    Envelope,
    EventPayload,
    LeadEventPayload,
    LeadIngestedV1,
    LeadLostV1,
    PersonErasedV1,
    UnknownEvent,
    new_envelope,
    parse_envelope,
)
from tests.contract.samples import LEAD_ID, SAMPLES, T0


def _ingested() -> LeadIngestedV1:
    sample = SAMPLES[LeadIngestedV1]
    assert isinstance(sample, LeadIngestedV1)
    return sample


INGESTED = _ingested()


def envelope_of(payload: EventPayload, **kwargs: Any) -> Envelope[Any]:
    lead_id = LEAD_ID if isinstance(payload, LeadEventPayload) else None
    return new_envelope(
        payload, tenant_id="tenant-a", dealership_id="berlin-1", lead_id=lead_id, **kwargs
    )


def body_of(payload: EventPayload) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(envelope_of(payload).to_json_bytes())
    return result


@pytest.mark.parametrize("payload", SAMPLES.values(), ids=lambda p: type(p).__name__)
def test_round_trip_gives_the_typed_payload(payload: EventPayload) -> None:
    envelope = envelope_of(payload, occurred_at=T0)
    parsed = parse_envelope(envelope.to_json_bytes())
    assert type(parsed.payload) is type(payload)
    assert parsed == envelope
    assert parsed.payload == payload
    assert parsed.routing_key == f"{payload.event_type}.v{payload.event_version}"


def test_new_envelope_fills_metadata_from_the_payload_class() -> None:
    envelope = envelope_of(INGESTED)
    assert (envelope.event_type, envelope.event_version) == ("lead.ingested", 1)
    assert envelope.producer == "intake"
    assert envelope.routing_key == "lead.ingested.v1"
    assert envelope.correlation_id == str(envelope.event_id)
    assert envelope.causation_id is None
    assert envelope.occurred_at.tzinfo is not None
    assert envelope.occurred_at.utcoffset() == timedelta(0)


def test_caused_by_carries_the_correlation_on() -> None:
    first = envelope_of(INGESTED)
    second = envelope_of(SAMPLES[LeadLostV1], caused_by=first)
    assert second.correlation_id == first.correlation_id
    assert second.causation_id == str(first.event_id)
    assert second.event_id != first.event_id


def test_producer_must_match_the_payload_class() -> None:
    new_envelope(INGESTED, tenant_id="t", producer="intake", lead_id=LEAD_ID)
    with pytest.raises(ValueError, match="produced by intake"):
        new_envelope(INGESTED, tenant_id="t", producer="crm-queue", lead_id=LEAD_ID)


def test_the_wire_form_is_plain_json_with_utc_times() -> None:
    body = body_of(INGESTED)
    assert body["event_type"] == "lead.ingested"
    assert body["occurred_at"].endswith("Z")
    assert body["payload"]["received_at"] == "2025-03-14T09:30:00Z"
    assert body["payload"]["vehicle"]["price"] == "31990.00"
    assert body["payload"]["trade_ins"][0]["make"] == "Opel"


def test_typed_read_of_a_known_event() -> None:
    body = envelope_of(INGESTED).to_json_bytes()
    envelope = Envelope[LeadIngestedV1].model_validate_json(body)
    assert envelope.payload.person.first_name == "Anna"


def test_unparametrised_envelope_still_writes_the_whole_payload() -> None:
    envelope: Envelope[Any] = Envelope.model_validate(dict(envelope_of(INGESTED)))
    assert json.loads(envelope.to_json_bytes())["payload"]["person"]["first_name"] == "Anna"


def test_unparametrised_envelope_refuses_to_read_a_payload_it_cannot_type() -> None:
    with pytest.raises(ValidationError, match="parametrise the envelope"):
        Envelope.model_validate(body_of(INGESTED))


def test_raw_read_keeps_the_payload_as_json() -> None:
    raw = Envelope[Any].model_validate_json(envelope_of(INGESTED).to_json_bytes())
    assert raw.payload["person"]["first_name"] == "Anna"
    assert raw.routing_key == "lead.ingested.v1"


def test_unknown_fields_are_ignored_at_every_level() -> None:
    body = body_of(INGESTED)
    body["priority"] = "high"
    body["payload"]["loyalty_tier"] = "gold"
    body["payload"]["person"]["nickname"] = "Annie"
    body["payload"]["source"]["region"] = "north"
    parsed = parse_envelope(json.dumps(body))
    assert parsed.payload == INGESTED
    assert not hasattr(parsed, "priority")


def test_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        envelope_of(INGESTED, occurred_at=datetime(2025, 3, 14, 9, 30))
    body = body_of(INGESTED)
    body["occurred_at"] = "2025-03-14T09:30:00"
    with pytest.raises(ValidationError, match="occurred_at"):
        parse_envelope(json.dumps(body))


def test_naive_payload_time_is_refused() -> None:
    body = body_of(INGESTED)
    body["payload"]["received_at"] = "2025-03-14T09:30:00"
    with pytest.raises(ValidationError, match="received_at"):
        parse_envelope(json.dumps(body))


def test_other_zones_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    envelope = envelope_of(INGESTED, occurred_at=datetime(2025, 3, 14, 10, 30, tzinfo=paris))
    assert envelope.occurred_at == T0
    assert envelope.occurred_at.utcoffset() == timedelta(0)
    body = body_of(INGESTED)
    body["payload"]["received_at"] = "2025-03-14T10:30:00+01:00"
    assert parse_envelope(json.dumps(body)).payload.received_at.isoformat() == T0.isoformat()


def test_unknown_event_type_or_version_raises_unknown_event() -> None:
    body = body_of(INGESTED)
    body["event_type"] = "lead.teleported"
    with pytest.raises(UnknownEvent) as caught:
        parse_envelope(json.dumps(body))
    assert (caught.value.event_type, caught.value.event_version) == ("lead.teleported", 1)
    body = body_of(INGESTED)
    body["event_version"] = 9
    with pytest.raises(UnknownEvent, match=r"lead\.ingested\.v9"):
        parse_envelope(json.dumps(body))


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"event_type": "lead.ingested"}'],
    ids=["not-json", "not-object", "no-version"],
)
def test_malformed_bodies_raise_validation_error(body: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_envelope(body)


def test_bad_payload_raises_validation_error() -> None:
    body = body_of(INGESTED)
    body["payload"]["sequence"] = 0
    body["payload"]["person"]["phone"] = "0151 1234"
    with pytest.raises(ValidationError) as caught:
        parse_envelope(json.dumps(body))
    assert {e["loc"][-1] for e in caught.value.errors()} == {"sequence", "phone"}


def test_payload_must_match_the_envelope_type() -> None:
    data = envelope_of(INGESTED).model_dump()
    data["event_type"] = "lead.lost"
    with pytest.raises(ValidationError, match=r"envelope says lead\.lost\.v1"):
        Envelope[LeadIngestedV1].model_validate(data)


def test_lead_events_need_a_lead_id() -> None:
    with pytest.raises(ValidationError, match="lead_id is required"):
        new_envelope(INGESTED, tenant_id="tenant-a")
    erased = new_envelope(SAMPLES[PersonErasedV1], tenant_id="tenant-a")
    assert erased.lead_id is None


def test_envelope_and_payload_are_immutable() -> None:
    envelope = envelope_of(INGESTED)
    with pytest.raises(ValidationError):
        envelope.tenant_id = "tenant-b"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        INGESTED.sequence = 2  # type: ignore[misc]


def test_explicit_ids_are_kept() -> None:
    event_id = uuid4()
    envelope = envelope_of(INGESTED, event_id=event_id, correlation_id="c-1", causation_id="x")
    assert (envelope.event_id, envelope.correlation_id, envelope.causation_id) == (
        event_id,
        "c-1",
        "x",
    )
    assert isinstance(envelope.lead_id, UUID)

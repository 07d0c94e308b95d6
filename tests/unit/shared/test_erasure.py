"""An outbox event about an erased lead, rewritten without the person, still parses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from shared.contracts import (
    LeadIngestedV1,
    PersonV1,
    SourceRefV1,
    VehicleV1,
    new_envelope,
    parse_envelope,
)
from shared.erasure import scrub_payload


def test_a_scrubbed_lead_ingested_keeps_its_numbers_and_parses() -> None:
    envelope = new_envelope(
        LeadIngestedV1(
            sequence=1,
            source=SourceRefV1(source_id="s1", kind="website", name="Own site"),
            received_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
            person=PersonV1(first_name="Ann", email="ann@example.com", phone="+15195550142"),
            vehicle=VehicleV1(make="Volvo", vin="YV1DZ8256C2271234", comments="call Ann"),
            trade_ins=(VehicleV1(make="Saab"),),
            comments="Ann Roe asks",
            extensions={"name": "Ann"},
        ),
        tenant_id="acme",
        lead_id=uuid4(),
    )
    body = json.loads(envelope.to_json_bytes())
    body["payload"] = scrub_payload(body["payload"])
    text = json.dumps(body)
    assert "Ann" not in text and "ann@" not in text and "5195550142" not in text
    assert "YV1DZ" not in text
    parsed = parse_envelope(json.dumps(body).encode())
    assert parsed.payload.vehicle.make == "Volvo"
    assert parsed.payload.person == PersonV1()

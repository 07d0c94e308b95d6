"""metrics' pure parts: what an event contributes, the erasure scrub, the time windows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from metrics.domain.facts import facts_of
from metrics.domain.kpis import BadRequest, month_window, resolve_window
from metrics.domain.privacy import scrub_envelope
from shared.contracts import (
    LeadIngestedV1,
    LeadQualifiedV1,
    PersonV1,
    QualifyingOutcome,
    SourceRefV1,
    new_envelope,
    parse_envelope,
)

T = datetime(2026, 3, 2, 10, tzinfo=UTC)


def ingested() -> dict[str, object]:
    payload = LeadIngestedV1(
        sequence=1,
        source=SourceRefV1(source_id="web", kind="website", name="Own site"),
        received_at=T,
        person=PersonV1(
            first_name="Ann", email="ann@example.com", other_phones=("+4915112345678",)
        ),
        comments="call me",
        source_lead_id="abc-1",
        extensions={"crm": "x"},
    )
    env = new_envelope(payload, tenant_id="acme", dealership_id="d1", lead_id=uuid.uuid4())
    return dict(json.loads(env.to_json_bytes()))


def test_previous_lead_id_marks_a_returning_customer() -> None:
    body = ingested()
    previous = uuid.uuid4()
    body["payload"] |= {"previous_lead_id": str(previous)}  # type: ignore[operator]
    env = parse_envelope(json.dumps(body))
    facts = facts_of(env)
    assert facts.lead[0].group == "ingest"
    assert facts.lead[0].values["previous_lead_id"] == previous
    del body["payload"]["previous_lead_id"]  # type: ignore[attr-defined]
    env = parse_envelope(json.dumps(body))
    assert facts_of(env).lead[0].values["previous_lead_id"] is None  # type: ignore[arg-type]


def test_the_scrubbed_envelope_has_no_personal_data_and_still_parses() -> None:
    body = ingested()
    clean = scrub_envelope(body)
    text = json.dumps(clean)
    for secret in ("Ann", "ann@example.com", "call me", "abc-1", "+4915112345678", "crm"):
        assert secret not in text
    env = parse_envelope(text)
    assert env.payload.source.source_id == "web" and env.payload.received_at == T
    q = LeadQualifiedV1(
        sequence=2,
        outcome=QualifyingOutcome.QUOTATION_REQUESTED,
        agent_id="ana",
        attempts=1,
        qualified_at=T,
        details="Ann wants a quote",
        person=PersonV1(first_name="Ann"),
    )
    qb = json.loads(new_envelope(q, tenant_id="acme", lead_id=uuid.uuid4()).to_json_bytes())
    assert "Ann" not in json.dumps(scrub_envelope(qb))
    assert parse_envelope(json.dumps(scrub_envelope(qb))).payload.agent_id == "ana"


def test_windows() -> None:
    today = date(2026, 3, 17)
    assert resolve_window("mtd", today=today, timezone="UTC").first_day == date(2026, 3, 1)
    ytd = resolve_window("ytd", today=today, timezone="Europe/Berlin")
    assert (ytd.first_day, ytd.last_day) == (date(2026, 1, 1), today)
    assert ytd.start == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert month_window("2026-02", "UTC").last_day == date(2026, 2, 28)
    with pytest.raises(BadRequest):
        resolve_window("range", today=today, timezone="UTC", first=today)
    with pytest.raises(BadRequest):
        month_window("2026-13", "UTC")


def test_windows_past_the_calendar_are_refused_naming_the_field() -> None:
    """Days whose bounds would overflow a datetime (9999-12-31 answered 500) are a 422."""
    today = date(2026, 3, 17)
    for period, kw, field in (
        ("day", {"on": date(9999, 12, 31)}, "on"),
        ("range", {"first": date(1, 1, 1), "last": date(1, 1, 5)}, "from"),
        ("range", {"first": date(9999, 12, 1), "last": date(9999, 12, 31)}, "to"),
    ):
        with pytest.raises(BadRequest) as refused:
            resolve_window(period, today=today, timezone="Pacific/Kiritimati", **kw)  # type: ignore[arg-type]
        assert refused.value.field == field
    for month in ("9999-12", "0001-01"):
        with pytest.raises(BadRequest) as refused:
            month_window(month, "UTC")
        assert refused.value.field == "month"
    far = resolve_window("day", today=today, timezone="Pacific/Kiritimati", on=date(9999, 12, 30))
    assert far.end.year == 9999

"""The harness's leads: seeded, every way in read by intake's own parsers as the same lead."""

from __future__ import annotations

from collections import Counter

from forecourt_chaos.domain.payloads import CSV_MAPPING, adf_document, csv_file, json_body
from forecourt_chaos.domain.plan import Plan
from intake.adapters.adf import parse_adf
from intake.adapters.csv_rows import ColumnMapping, rows_from_bytes
from intake.domain.submission import LeadSubmission

TENANTS = [f"t{i}" for i in range(10)]


def test_the_same_seed_plans_the_same_leads_and_keys_are_unique() -> None:
    first = [b for b in Plan(7, "r", TENANTS).batches(500)]
    again = [b for b in Plan(7, "r", TENANTS).batches(500)]
    assert [(b.way, b.tenant, [x.key for x in b.leads]) for b in first] == [
        (b.way, b.tenant, [x.key for x in b.leads]) for b in again
    ]
    leads = [lead for b in first for lead in b.leads]
    assert len(leads) == 500
    assert len({lead.key for lead in leads}) == 500
    assert {b.way for b in first} == {"json", "adf", "csv", "amqp"}
    assert len({b.tenant for b in first}) == 10
    # Some people come back, always to the same tenant.
    by_person = Counter((lead.tenant, lead.email) for lead in leads)
    assert any(n > 1 for n in by_person.values())
    assert len({lead.email for lead in leads}) == len(by_person)


def test_a_csv_batch_is_one_tenant_and_the_plan_stops_at_the_total() -> None:
    batches = list(Plan(3, "r", TENANTS, mix={"csv": 1.0}, csv_rows=(5, 9)).batches(23))
    assert sum(len(b.leads) for b in batches) == 23
    for batch in batches:
        assert {lead.tenant for lead in batch.leads} == {batch.tenant}


def test_every_way_in_reads_as_the_planned_lead() -> None:
    [batch] = Plan(1, "r", TENANTS, mix={"json": 1.0}).batches(1)
    [lead] = batch.leads
    as_json = LeadSubmission.model_validate_json(json_body(lead))
    [as_adf] = parse_adf(adf_document(lead))
    [row] = rows_from_bytes(csv_file([lead]), ColumnMapping.model_validate(CSV_MAPPING))
    as_csv = row.submission
    assert as_csv is not None
    for sub in (as_json, as_adf, as_csv):
        assert sub.email == lead.email
        assert sub.first_name == lead.fields["first_name"]
        assert sub.phone == lead.fields["phone"]
        assert sub.vehicle is not None and sub.vehicle.make == lead.fields["vehicle"]["make"]
    assert as_csv.source_lead_id == lead.key

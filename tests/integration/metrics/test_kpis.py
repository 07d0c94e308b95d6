"""Every KPI of a known history against figures computed by hand (see history.py), with every
event delivered twice and in shuffled order."""

from __future__ import annotations

import random

import pytest

from tests.integration.metrics.conftest import Metrics
from tests.integration.metrics.history import History, march

pytestmark = pytest.mark.integration

MTD = {"period": "mtd"}


async def load(svc: Metrics, history: History, seed: int = 7) -> None:
    messages = list(history.messages)
    random.Random(seed).shuffle(messages)
    await svc.publish(messages)
    await svc.publish(reversed(messages))  # every event a second time
    await svc.settled()


async def test_funnel_counts_and_conversion(svc: Metrics) -> None:
    await load(svc, march())
    report = await svc.get("/v1/kpis/funnel", **MTD)
    assert report["period"] == {
        "first_day": "2026-03-01",
        "last_day": "2026-03-31",
        "timezone": "UTC",
    }
    t = report["total"]
    assert {k: t[k] for k in t if k != "key"} == {
        "received": 10,
        "leads": 6,
        "new_people": 5,
        "returning": 1,
        "invalid_leads": 1,
        "valid_leads": 5,
        "rejected": 2,
        "duplicates": 2,
        "prospects": 2,
        "reactivated": 1,
        "sales": 3,
        "sales_from_reactivated": 1,
        "lead_to_prospect": 0.4,
        "prospect_to_sale": 1.5,
        "lead_to_sale": 0.6,
        "target_lead_to_sale": 0.13,
    }
    cohort = (await svc.get("/v1/kpis/funnel", basis="cohort", **MTD))["total"]
    assert (cohort["leads"], cohort["prospects"], cohort["sales"], cohort["lead_to_sale"]) == (
        6,
        2,
        2,
        0.4,
    )
    by_dealership = await svc.get("/v1/kpis/funnel", group_by="dealership", **MTD)
    rows = {r["key"]: r for r in by_dealership["rows"]}
    assert set(rows) == {"d1", "d2"}
    d1, d2 = rows["d1"], rows["d2"]
    assert (d1["leads"], d1["invalid_leads"], d1["rejected"], d1["duplicates"]) == (4, 1, 1, 2)
    assert (d1["prospects"], d1["reactivated"], d1["sales"]) == (2, 1, 3)
    assert (d2["leads"], d2["returning"], d2["rejected"], d2["prospects"], d2["sales"]) == (
        2,
        1,
        1,
        0,
        0,
    )
    by_day = await svc.get("/v1/kpis/funnel", group_by="day", **MTD)
    days = {r["key"]: (r["leads"], r["sales"]) for r in by_day["rows"]}
    assert days["2026-03-02"] == (2, 0) and days["2026-03-03"] == (1, 1)
    assert days["2026-03-12"] == (0, 1)
    # One day; a source filter; February alone.
    day = (await svc.get("/v1/kpis/funnel", period="day", on="2026-03-02"))["total"]
    assert (day["leads"], day["duplicates"], day["prospects"]) == (2, 2, 1)
    mkt = (await svc.get("/v1/kpis/funnel", source="mkt", **MTD))["total"]
    assert (mkt["leads"], mkt["duplicates"], mkt["rejected"], mkt["sales"]) == (2, 1, 1, 1)
    feb = await svc.get(
        "/v1/kpis/funnel", period="range", **{"from": "2026-02-01", "to": "2026-02-28"}
    )
    assert (feb["total"]["leads"], feb["total"]["prospects"], feb["total"]["sales"]) == (1, 1, 0)
    ytd = (await svc.get("/v1/kpis/funnel", period="ytd"))["total"]
    assert (ytd["leads"], ytd["prospects"], ytd["sales"]) == (7, 3, 3)


async def test_speed_to_lead_persistence_and_lost_reasons(svc: Metrics) -> None:
    await load(svc, march(), seed=11)
    speed = await svc.get("/v1/kpis/speed-to-lead", **MTD)
    assert (speed["leads"], speed["attempted"], speed["not_attempted"]) == (5, 4, 1)
    assert speed["p50_seconds"] == 900.0 and speed["p90_seconds"] == 2880.0
    assert (speed["sla_breaches"], speed["sla_met"], speed["sla_compliance"]) == (2, 3, 0.6)
    assert [b["count"] for b in speed["buckets"]] == [1, 1, 1, 0, 1, 0, 0, 0]
    assert speed["buckets"][0] == {"label": "< 5 min", "upper_seconds": 300.0, "count": 1}

    p = await svc.get("/v1/kpis/persistence", **MTD)
    assert (p["losses"], p["mean_attempts"], p["median_attempts"]) == (2, 4.0, 4.0)
    assert (p["below_minimum"], p["below_minimum_share"], p["min_attempts"]) == (1, 0.5, 6)
    assert p["histogram"] == [{"attempts": 2, "losses": 1}, {"attempts": 6, "losses": 1}]
    assert {c["category"]: (c["losses"], c["below_minimum"]) for c in p["by_category"]} == {
        "no_interest": (1, 1),
        "not_reached": (1, 0),
    }
    lenient = await svc.get("/v1/kpis/persistence", min_attempts=2, **MTD)
    assert lenient["below_minimum"] == 0

    lost = await svc.get("/v1/kpis/lost-reasons", **MTD)
    assert lost["losses"] == 4
    assert {
        (r["reason_code"], r["lead_losses"], r["prospect_losses"], r["share"])
        for r in lost["reasons"]
    } == {
        ("no_interest.other_car", 1, 0, 0.25),
        ("prospect.price", 0, 1, 0.25),
        ("not_reached.max_attempts", 1, 0, 0.25),
        ("pollution.test", 1, 0, 0.25),
    }
    labels = {r["reason_code"]: r["label"] for r in lost["reasons"]}
    assert labels["prospect.price"] == "Price / financing not accepted"
    assert {c["category"] for c in lost["categories"]} == {
        "no_interest",
        "prospect",
        "not_reached",
        "pollution",
    }
    consultant = await svc.get("/v1/kpis/lost-reasons", consultant="dan", **MTD)
    assert [r["reason_code"] for r in consultant["reasons"]] == ["prospect.price"]


async def test_recovery_sources_and_leaderboards(svc: Metrics) -> None:
    await load(svc, march(), seed=3)
    r = await svc.get("/v1/kpis/recovery", **MTD)
    assert (r["lost_deals"], r["reactivations"], r["reactivation_rate"]) == (3, 1, 0.3333)
    assert (r["sales_from_reactivated"], r["reactivated_sale_share"]) == (1, 1.0)
    assert r["recovered_revenue"] == [{"currency": "EUR", "amount": "20000.00", "sales": 1}]
    assert (r["bought_elsewhere"], r["bought_elsewhere_share"], r["dead"]) == (1, 0.3333, 0)
    assert r["returning_customers"] == 1

    sources = {s["source_id"]: s for s in (await svc.get("/v1/kpis/sources", **MTD))["sources"]}
    web, mkt = sources["web"], sources["mkt"]
    assert (web["delivered"], web["leads"], web["invalid_leads"], web["duplicates"]) == (6, 4, 1, 1)
    assert (web["rejected"], web["prospects"], web["sales"]) == (1, 1, 2)
    assert (web["cost"], web["cost_per_lead"], web["cost_per_valid_lead"]) == (
        "60.00",
        "10.00",
        "20.00",
    )
    assert (web["cost_per_sale"], web["duplicate_rate"], web["pollution_rate"]) == (
        "30.00",
        0.1667,
        0.3333,
    )
    assert (mkt["delivered"], mkt["leads"], mkt["duplicates"], mkt["rejected"]) == (4, 2, 1, 1)
    assert (mkt["prospects"], mkt["sales"], mkt["cost"], mkt["cost_per_sale"]) == (
        1,
        1,
        "80.00",
        "80.00",
    )
    assert (mkt["cost_per_valid_lead"], mkt["duplicate_rate"], mkt["pollution_rate"]) == (
        "40.00",
        0.25,
        0.25,
    )

    board = (await svc.get("/v1/kpis/consultants", **MTD))["consultants"]
    assert [c["consultant_id"] for c in board] == ["cara", "dan"]
    cara, dan = board
    assert (cara["prospects"], cara["sales"], cara["losses"], cara["close_rate"]) == (1, 2, 0, 1.0)
    assert (cara["revenue"], cara["reactivated_sales"]) == ("40000.00", 0)
    assert (dan["prospects"], dan["sales"], dan["losses"], dan["close_rate"]) == (1, 1, 1, 0.5)
    assert dan["reactivated_sales"] == 1

    agents = {a["agent_id"]: a for a in (await svc.get("/v1/kpis/agents", **MTD))["agents"]}
    assert set(agents) == {"ana", "bob"}
    ana, bob = agents["ana"], agents["bob"]
    assert (ana["first_attempts"], ana["p50_seconds"], ana["sla_breaches"]) == (2, 420.0, 0)
    assert (ana["qualified"], ana["losses"], ana["losses_below_minimum"]) == (1, 1, 1)
    assert (bob["first_attempts"], bob["p50_seconds"], bob["sla_breaches"]) == (2, 2400.0, 1)
    assert (bob["qualified"], bob["losses"], bob["losses_below_minimum"]) == (1, 1, 0)


async def test_source_credits_with_evidence_as_json_and_csv(svc: Metrics) -> None:
    h = march()
    await load(svc, h)
    credits = (await svc.get("/v1/kpis/source-credits", month="2026-03"))["credits"]
    assert [(c["source_id"], c["kind"], c["reason_code"]) for c in credits] == [
        ("mkt", "duplicate", "pollution.duplicate"),
        ("mkt", "rejected", "pollution.test"),
        ("web", "rejected", "invalid.personal_data"),
        ("web", "written_off", "pollution.test"),
    ]
    dup = credits[0]
    assert dup["original_lead_id"] == str(h.leads["L1"]) and dup["original_source_id"] == "web"
    assert dup["matched_on"] == ["email"] and dup["cost_per_lead"] == "20.00"
    # As lead.rejected carried them (`value`, the text as written, is for warnings only).
    assert credits[1]["errors"] == [{"field": "email", "reason": "test address", "value": None}]
    assert credits[3]["lead_id"] == str(h.leads["L5"])
    r = await svc.client.get(
        "/v1/kpis/source-credits", params={"month": "2026-03", "format": "csv"}, headers=svc.staff()
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("kind,source_id,source_name,reason_code,received_at")
    assert len(lines) == 5 and lines[1].startswith("duplicate,mkt,Marketplace,pollution.duplicate")
    assert "email: test address" in lines[2]
    april = (await svc.get("/v1/kpis/source-credits", month="2026-04"))["credits"]
    assert april == []

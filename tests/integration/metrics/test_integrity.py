"""Rebuild from the event log, two replicas, tenant isolation, erasure, input checks."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from metrics.adapters.projection import Projection
from metrics.adapters.rollups import ROLLUP_TABLES
from metrics.domain.facts import facts_of
from metrics.service_layer.projector import rebuild
from shared.contracts import LostReasonCode
from tests.integration.metrics.conftest import Metrics
from tests.integration.metrics.history import WEB, History, Message, at, march

pytestmark = pytest.mark.integration

ROUTES = (
    "/v1/kpis/funnel",
    "/v1/kpis/speed-to-lead",
    "/v1/kpis/persistence",
    "/v1/kpis/lost-reasons",
    "/v1/kpis/recovery",
    "/v1/kpis/sources",
    "/v1/kpis/consultants",
    "/v1/kpis/agents",
)


async def everything(svc: Metrics, headers: dict[str, str] | None = None) -> dict[str, Any]:
    out = {}
    for route in ROUTES:
        out[route] = await svc.get(route, headers, period="ytd")
    out["by source"] = await svc.get("/v1/kpis/funnel", headers, period="ytd", group_by="source")
    out["credits"] = await svc.get("/v1/kpis/source-credits", headers, month="2026-03")
    return out


async def test_rebuild_from_the_log_gives_the_same_figures(svc: Metrics) -> None:
    h = march()
    await svc.publish(h.messages)
    await svc.settled()
    before = await everything(svc)
    assert before["/v1/kpis/funnel"]["total"]["sales"] == 3
    facts = await svc.sql("SELECT count(*) FROM lead_fact")
    count = await rebuild(svc.app.state.runtime.engine, batch_size=7)
    assert count == len(h.messages)
    assert await svc.sql("SELECT count(*) FROM lead_fact") == facts
    assert await everything(svc) == before
    # A wiped projection (not only a replay on top) comes back whole.
    async with svc.app.state.runtime.engine.begin() as conn:
        for table in ("lead_fact", "loss_fact", *ROLLUP_TABLES):
            await conn.execute(text(f"DELETE FROM {table}"))
    assert (await svc.get("/v1/kpis/funnel", period="ytd"))["total"]["sales"] == 0
    await rebuild(svc.app.state.runtime.engine)
    assert await everything(svc) == before


async def test_two_replicas_racing_on_the_same_events_count_each_once(
    running_metrics: Callable[..., AbstractAsyncContextManager[Metrics]],
) -> None:
    h = march()
    async with running_metrics() as one, running_metrics() as two:
        messages = list(h.messages)
        random.Random(5).shuffle(messages)
        # Both replicas consume the same queues; every event is sent three times.
        await asyncio.gather(one.publish(messages), two.publish(messages), one.publish(messages))
        one.published |= two.published
        await one.settled()
        total = (await one.get("/v1/kpis/funnel", period="mtd"))["total"]
        assert (total["leads"], total["prospects"], total["sales"], total["duplicates"]) == (
            6,
            2,
            3,
            2,
        )
        assert await one.sql("SELECT count(*) FROM event_log") == [(len(h.messages),)]


async def test_tenants_and_dealerships_are_walled_off(svc: Metrics) -> None:
    acme, globex = march("acme"), march("globex")
    globex.ingested("L8", "d1", WEB, at(7, 9))  # one lead more in globex, same dealership id
    await svc.publish(acme.messages + globex.messages)
    await svc.settled()
    acme_view = await everything(svc)
    globex_view = await everything(svc, svc.staff(tenant="globex"))
    assert acme_view["/v1/kpis/funnel"]["total"]["leads"] == 7
    assert globex_view["/v1/kpis/funnel"]["total"]["leads"] == 8
    acme_alone = await everything(svc)
    assert acme_alone == acme_view
    nobody = await svc.get("/v1/kpis/funnel", svc.staff(tenant="initech"), period="ytd")
    assert nobody["total"]["leads"] == 0 and nobody["total"]["received"] == 0
    # A manager of d1 sees d1 only; asking for d2 is a 404, like a dealership that does not exist.
    d1 = svc.staff("manager", dealerships=("d1",))
    assert (await svc.get("/v1/kpis/funnel", d1, period="mtd"))["total"]["leads"] == 4
    for route in (*ROUTES, "/v1/kpis/source-credits"):
        r = await svc.client.get(route, params={"dealership": "d2", "month": "2026-03"}, headers=d1)
        assert r.status_code == 404, (route, r.text)
    dims = await svc.get("/v1/kpis/dimensions", d1)
    assert dims["dealerships"] == ["d1"] and {s["source_id"] for s in dims["sources"]} == {
        "web",
        "mkt",
    }
    # An admin asking for a dealership nobody sent gets zeros, not another tenant's figures.
    unknown = await svc.get("/v1/kpis/funnel", period="ytd", dealership="nowhere")
    assert unknown["total"]["received"] == 0
    # Roles: agents and consultants do not read KPIs; no token is a 401.
    for role in ("agent", "consultant"):
        r = await svc.client.get("/v1/kpis/funnel", headers=svc.staff(role, dealerships=("d1",)))
        assert r.status_code == 403
    assert (await svc.client.get("/v1/kpis/funnel")).status_code == 401


async def test_erasure_scrubs_the_log_and_keeps_the_counts(svc: Metrics) -> None:
    h = march()
    erase = h.erased("L1", "L2")
    late = History.__new__(History)  # an event of L1 arriving after the erasure
    late.__dict__.update(h.__dict__ | {"messages": []})
    late.qualified("L1", "d1", "ana", h.messages[2].envelope.payload.qualified_at)
    before_erasure = [m for m in h.messages if m is not erase]
    await svc.publish(before_erasure)
    await svc.settled()
    figures = await everything(svc)
    emails = await svc.sql(
        "SELECT count(*) FROM event_log WHERE body::text LIKE '%example.com%' "
        "AND lead_id = ANY(:ids)",
        ids=[h.leads["L1"], h.leads["L2"]],
    )
    assert emails[0][0] > 0
    await svc.publish([erase, *late.messages])
    await svc.settled()
    for needle in ("example.com", "Roe", "please call", "spoke to", "me again", "wants a quote"):
        left = await svc.sql(
            "SELECT event_type FROM event_log WHERE body::text LIKE :n AND lead_id = ANY(:ids)",
            n=f"%{needle}%",
            ids=[h.leads["L1"], h.leads["L2"]],
        )
        assert left == [], needle
    # Other people's data stays; every count stays, and so does a rebuild from the scrubbed log.
    assert await svc.sql(
        "SELECT count(*) FROM event_log WHERE body::text LIKE '%example.com%'"
    ) != [(0,)]
    assert await everything(svc) == figures
    await rebuild(svc.app.state.runtime.engine)
    assert await everything(svc) == figures


async def test_a_call_is_logged_without_the_callers_number(svc: Metrics) -> None:
    """No erasure names a call (it has no lead): its caller is never kept in the log."""
    h = march()
    h.call("d1", WEB, "+14165550123", at(9, 11))
    h.rejected("d1", WEB, LostReasonCode.POLLUTION_TEST, at(9, 12))
    await svc.publish(h.messages)
    await svc.settled()
    kinds = await svc.sql("SELECT DISTINCT event_type FROM event_log WHERE lead_id IS NULL")
    assert {k for (k,) in kinds} >= {"call.received", "lead.rejected"}
    for needle in ("5550123", "grey Octavia", "calls.example.net"):
        assert (
            await svc.sql(
                "SELECT event_type FROM event_log WHERE body::text LIKE :n", n=f"%{needle}%"
            )
            == []
        ), needle
    # What the counts need stays: the rejection's code and source, the call's times.
    body = (await svc.sql("SELECT body FROM event_log WHERE event_type = 'call.received'"))[0][0]
    assert body["payload"]["source"]["source_id"] == WEB.source_id
    assert body["payload"]["called_at"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "range", "from": "2026-03-01"}, "from"),
        ({"period": "range", "from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"period": "range", "from": "2020-01-01", "to": "2026-03-01"}, "to"),
        ({"on": "yesterday"}, "on"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"period": "week"}, "period"),
        ({"dealership": "x" * 101}, "dealership"),
        ({"source": "a b"}, "source"),
        ({"campaign": "spring\x00"}, "campaign"),
        ({"group_by": "colour"}, "group_by"),
    ],
)
async def test_bad_queries_are_a_422_naming_the_field(
    svc: Metrics, query: dict[str, str], field: str
) -> None:
    r = await svc.client.get("/v1/kpis/funnel", params=query, headers=svc.staff())
    assert r.status_code == 422, r.text
    assert field in {str(e["loc"][-1]) for e in r.json()["detail"]}, r.text


async def test_prometheus_metrics(svc: Metrics) -> None:
    h = march()
    await svc.publish(h.messages[:5])
    await svc.publish(h.messages[:1])
    await svc.settled()
    await asyncio.sleep(0.2)  # the duplicate's ack follows its (no-op) transaction
    body = (await svc.client.get("/metrics")).text
    assert 'metrics_events_consumed_total{outcome="new",routing_key="lead.ingested.v1"} 1.0' in body
    assert 'metrics_funnel_month_to_date{stage="leads"} 1.0' in body
    assert "metrics_handler_seconds_bucket" in body


async def test_an_erasure_beside_a_late_event_of_its_lead_still_scrubs_it(svc: Metrics) -> None:
    """The late event's transaction holds the lead while it logs; the erasure handled at the
    same time by another consumer waits for it and then scrubs its row (`lead_lock`)."""
    h = march()
    erase = h.erased("L1", "L2")
    late = History.__new__(History)
    late.__dict__.update(h.__dict__ | {"messages": []})
    late.qualified("L1", "d1", "ana", h.messages[2].envelope.payload.qualified_at)
    await svc.publish([m for m in h.messages if m is not erase])
    await svc.settled()
    engine = svc.app.state.runtime.engine
    event = late.messages[0]
    async with AsyncSession(engine) as first:
        logged = await Projection(first).log(
            facts_of(event.envelope),
            event.envelope.event_type,
            event.envelope.event_version,
            event.envelope.occurred_at,
            json.loads(event.body()),
        )
        assert logged

        async def erasure() -> None:
            async with AsyncSession(engine) as second, second.begin():
                await Projection(second).apply(facts_of(erase.envelope))

        task = asyncio.create_task(erasure())
        await asyncio.wait({task}, timeout=1.0)  # unlocked, the erasure would be done by now
        await first.commit()
    await task
    left = await svc.sql(
        "SELECT count(*) FROM event_log WHERE event_id = :id AND body::text LIKE '%example.com%'",
        id=event.event_id,
    )
    assert left == [(0,)]


async def test_an_enquiry_published_again_for_the_consultant_counts_once(svc: Metrics) -> None:
    """intake publishes a merged enquiry again (same enquiry id, new event, stage prospect)
    when it learns the lead was a prospect already when it came: one duplicate still."""
    h = march()
    [first, *_] = [m for m in h.messages if m.envelope.event_type == "lead.duplicate"]
    again = first.envelope.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "payload": first.envelope.payload.model_copy(update={"stage": "prospect"}),
        }
    )
    await svc.publish([*h.messages, Message(again)])
    await svc.settled()
    total = (await svc.get("/v1/kpis/funnel", period="mtd"))["total"]
    assert (total["leads"], total["duplicates"]) == (6, 2)
    rows = await svc.sql(
        "SELECT count(*) FROM intake_fact WHERE enquiry_id = :e",
        e=first.envelope.payload.enquiry_id,
    )
    assert rows == [(1,)]

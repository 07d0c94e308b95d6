"""The rollups the KPIs are read from (issue 15: a year in under 100 ms) hold exactly what a sum
of the facts from scratch gives, whatever order the events arrive in and however often, with
erasures among them; a rebuild gives the same rows; and every report read from them equals the
report read from the facts: UTC and other zones, days and months, scoped callers. Automatic
replies are kept out of speed to lead; losses are compared with the dealership's minimum."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from metrics.adapters import reports
from metrics.adapters.rollups import FAMILIES, from_scratch, stored
from metrics.domain.kpis import GroupBy, Scope, Window
from metrics.service_layer.projector import project_many, rebuild
from metrics.service_layer.unit_of_work import MetricsUnitOfWork
from shared.contracts import LeadContactAttemptedV1, LeadLostV1, LostReasonCategory
from tests.integration.metrics.conftest import Metrics
from tests.integration.metrics.history import WEB, History, at, march

pytestmark = pytest.mark.integration


def richer() -> History:
    """March's history, plus automatic replies, losses that say the dealership's minimum, and
    an erasure."""
    h = march()
    h._emit(
        LeadContactAttemptedV1,
        "L1",
        "d1",
        attempt_id=uuid.uuid4(),
        attempt_number=2,
        channel="email",
        outcome="no_answer",
        agent_id="autoresponder",
        attempted_at=at(2, 10, 0, 5),
        automatic=True,
    )
    h.ingested("L8", "d2", WEB, at(20, 23, 30))
    h._emit(
        LeadLostV1,
        "L8",
        "d2",
        reason_code="no_interest.other_car",
        category=LostReasonCategory.NO_INTEREST,
        agent_id="bob",
        attempts=3,
        min_attempts=2,
        lost_at=at(21, 23, 50),
    )
    h.ingested("L9", "d2", WEB, at(31, 1, 0))
    h.attempt("L9", "d2", 1, "bob", at(31, 1, 20))
    h.erased("L2")
    return h


async def load(svc: Metrics, history: History, seed: int) -> None:
    messages = list(history.messages)
    random.Random(seed).shuffle(messages)
    await svc.publish(messages)
    await svc.publish(reversed(messages))
    await svc.settled()


async def check_rollups(svc: Metrics) -> dict[str, set[tuple[Any, ...]]]:
    """Every family as maintained equals its sum from scratch; its months are its days' sums."""
    out = {}
    async with svc.app.state.runtime.engine.connect() as conn:
        for family in FAMILIES:
            days = await stored(conn, family, "d")
            assert days == await from_scratch(conn, family), family.table
            months: dict[tuple[Any, ...], list[Decimal]] = {}
            n = 3 + len(family.keys)
            for row in days:
                key = (row[0], row[1].replace(day=1), *row[2:n])
                sums = months.get(key) or [Decimal(0)] * len(family.measures)
                months[key] = [a + b for a, b in zip(sums, row[n:], strict=True)]
            assert await stored(conn, family, "m") == {
                (*k, *v) for k, v in months.items() if any(v)
            }, family.table
            out[family.table] = days
    return out


async def test_rollups_equal_a_sum_from_scratch_in_any_order_and_after_a_rebuild(
    svc: Metrics,
) -> None:
    await load(svc, richer(), seed=11)
    live = await check_rollups(svc)
    assert live["funnel_rollup"], "the history must have filled the rollups"
    await rebuild(svc.app.state.runtime.engine, batch_size=5)
    assert await check_rollups(svc) == live


async def test_another_order_gives_the_same_rollups(
    svc: Metrics,
) -> None:
    h = richer()
    await load(svc, h, seed=3)
    first = await check_rollups(svc)
    # The same history again under another tenant, in another order: the same rows.
    other = History("acme2")
    other.messages = []
    for m in h.messages:
        data = m.envelope.model_copy(update={"tenant_id": "acme2", "event_id": uuid.uuid4()})
        other.messages.append(type(m)(data, m.extra))
    await load(svc, other, seed=99)
    second = await check_rollups(svc)
    for table, rows in first.items():
        mine = {r[1:] for r in second[table] if r[0] == "acme"}
        theirs = {r[1:] for r in second[table] if r[0] == "acme2"}
        assert mine == theirs == {r[1:] for r in rows}, table


def _window(first: date, last: date, tz: str = "UTC") -> Window:
    return Window(first, last, tz)


WINDOWS = (
    _window(date(2026, 3, 1), date(2026, 3, 31)),
    _window(date(2026, 1, 1), date(2026, 3, 31)),
    _window(date(2026, 2, 15), date(2026, 3, 20)),
    _window(date(2026, 3, 2), date(2026, 3, 21), "America/Toronto"),
    _window(date(2026, 2, 1), date(2026, 3, 31), "Asia/Kolkata"),
    _window(date(2026, 3, 20), date(2026, 3, 22), "Pacific/Auckland"),
)
GROUPS: tuple[GroupBy, ...] = ("none", "dealership", "day", "month")
SCOPES = (
    Scope("acme", None),
    Scope("acme", ("d1",)),
    Scope("acme", None, dealership="d2"),
    Scope("acme", ("d2", "d1"), dealership="d2"),
)


async def test_reports_from_the_rollups_equal_reports_from_the_facts(svc: Metrics) -> None:
    await load(svc, richer(), seed=5)
    sessions = svc.app.state.runtime.sessions
    checked = 0
    async with sessions() as s:
        for window in WINDOWS:
            for scope in SCOPES:
                for group_by in GROUPS:
                    for basis in ("activity", "cohort"):
                        fast = await reports.funnel(s, scope, window, group_by, basis)
                        slow = await reports.funnel(
                            s, scope, window, group_by, basis, allowed=False
                        )
                        assert fast == slow, (window, scope, group_by, basis)
                        checked += reports.rolled(scope, window, group_by)
                fast_speed = await reports.speed_to_lead(s, scope, window)
                slow_speed = await reports.speed_to_lead(s, scope, window, allowed=False)
                assert fast_speed == slow_speed, (window, scope)
                for asked in (None, 3):
                    assert await reports.persistence(
                        s, scope, window, asked, 6
                    ) == await reports.persistence(s, scope, window, asked, 6, allowed=False)
                assert await reports.lost_reasons(s, scope, window) == await reports.lost_reasons(
                    s, scope, window, allowed=False
                )
                assert await reports.recovery(s, scope, window) == await reports.recovery(
                    s, scope, window, allowed=False
                )
                assert await reports.sources(s, scope, window) == await reports.sources(
                    s, scope, window, allowed=False
                )
                assert await reports.consultants(s, scope, window, 50) == await reports.consultants(
                    s, scope, window, 50, allowed=False
                )
    assert checked > 50  # most of the combinations above were answered by the rollups


async def test_automatic_replies_apart_and_losses_below_the_dealerships_minimum(
    svc: Metrics,
) -> None:
    h = History()
    h.ingested("A", "d1", WEB, at(2, 10))
    h._emit(
        LeadContactAttemptedV1,
        "A",
        "d1",
        attempt_id=uuid.uuid4(),
        attempt_number=1,
        channel="email",
        outcome="no_answer",
        agent_id="autoresponder",
        attempted_at=at(2, 10, 0, 10),
        automatic=True,
    )
    h.attempt("A", "d1", 2, "ana", at(2, 10, 10))  # a person, 600 s after
    h.ingested("B", "d1", WEB, at(3, 10))
    h._emit(
        LeadContactAttemptedV1,
        "B",
        "d1",
        attempt_id=uuid.uuid4(),
        attempt_number=1,
        channel="sms",
        outcome="no_answer",
        agent_id="autoresponder",
        attempted_at=at(3, 10, 0, 5),
        automatic=True,
    )
    for lead, minimum in (("C", 2), ("D", 5), ("E", None)):
        h.ingested(lead, "d2", WEB, at(4, 9))
        h._emit(
            LeadLostV1,
            lead,
            "d2",
            reason_code="no_interest.other_car",
            category=LostReasonCategory.NO_INTEREST,
            agent_id="bob",
            attempts=3,
            min_attempts=minimum,
            lost_at=at(5, 9),
        )
    await load(svc, h, seed=1)
    speed = await svc.get("/v1/kpis/speed-to-lead", period="mtd")
    assert (speed["leads"], speed["attempted"], speed["automatic_replies"]) == (5, 1, 2)
    assert (speed["p50_seconds"], speed["percentiles"]) == (600.0, "exact")
    persistence = await svc.get("/v1/kpis/persistence", period="mtd")
    # C met its dealership's 2; D is below its 5; E said nothing: below the default 6.
    assert (persistence["losses"], persistence["below_minimum"]) == (3, 2)
    assert persistence["min_attempts"] == 6
    asked = await svc.get("/v1/kpis/persistence", period="mtd", min_attempts=3)
    assert asked["below_minimum"] == 0
    agents = await svc.get("/v1/kpis/agents", period="mtd")
    [bob] = [a for a in agents["agents"] if a["agent_id"] == "bob"]
    assert bob["losses_below_minimum"] == 2
    await check_rollups(svc)
    # A day window missing the start of the history, in a zone whose days are not UTC days.
    toronto = await svc.get(
        "/v1/kpis/speed-to-lead",
        period="range",
        **{"from": "2026-03-02", "to": "2026-03-02"},
        tz="America/Toronto",
    )
    assert (toronto["leads"], toronto["attempted"], toronto["automatic_replies"]) == (1, 1, 1)


async def test_batches_of_events_keep_the_rollups_exact(svc: Metrics) -> None:
    """Live consumers project a batch per transaction (`project_many`): events of one lead and
    one day in a batch, an event twice in it, and a batch redelivered give the same rows as a sum
    from scratch."""
    messages = list(richer().messages)
    random.Random(7).shuffle(messages)
    parsed = [(m.envelope, json.loads(m.body())) for m in messages]
    sizes, start = [1, 7, 3, 20, 2], 0
    batches = []
    while start < len(parsed):
        n = sizes[len(batches) % len(sizes)]
        batches.append(parsed[start : start + n])
        start += n
    batches[1] = batches[1] + batches[1][:2]  # the same events twice in one batch
    for batch in batches:
        await project_many(MetricsUnitOfWork(svc.app.state.runtime.sessions), batch)
    await project_many(
        MetricsUnitOfWork(svc.app.state.runtime.sessions), batches[3]
    )  # redelivered: no change
    live = await check_rollups(svc)
    assert live["funnel_rollup"] and live["source_rollup"]

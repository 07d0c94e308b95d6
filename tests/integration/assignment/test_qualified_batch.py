"""Qualifications a batch per transaction: each lead as if alone, the inbox still deduplicates."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from assignment.service_layer import handlers
from tests.integration.assignment.conftest import Assignment, qualified

pytestmark = pytest.mark.integration


async def _owners(svc: Assignment, dealership: str) -> Counter[str]:
    r = await svc.client.get(
        "/v1/prospects?state=open&limit=1000",
        headers=svc.staff(dealerships=(dealership,)),
    )
    assert r.status_code == 200, r.text
    return Counter(p["consultant_id"] for p in r.json() if p["dealership_id"] == dealership)


async def test_a_batch_over_two_dealerships_with_a_duplicate_and_a_redelivery(
    svc: Assignment,
) -> None:
    for name in ("ada", "bob"):
        await svc.add_consultant(name, "d1")
    await svc.add_consultant("cid", "d2")
    earlier = qualified(dealership="d1")
    await svc.publish(earlier)  # through the consumer: ada's
    assert (await svc.prospect(earlier.lead_id))["consultant_id"] == "ada"

    d1 = [qualified(dealership="d1") for _ in range(4)]
    d2 = qualified(dealership="d2")
    batch: list[Any] = [d1[0], d2, d1[1], d1[0], earlier, d1[2], d1[3]]
    await handlers.on_leads_qualified(svc.app.state.uow_factory(), batch, svc.clock.now())

    owners = [(await svc.prospect(lead.lead_id))["consultant_id"] for lead in d1]
    assert owners == ["bob", "ada", "bob", "ada"]  # round robin goes on from `earlier`
    assert (await svc.prospect(d2.lead_id, dealership="d2"))["consultant_id"] == "cid"
    assert await _owners(svc, "d1") == {"ada": 3, "bob": 2}  # nothing assigned twice


async def test_a_backlog_through_the_consumer_is_shared_evenly(svc: Assignment) -> None:
    for name in ("ada", "bob", "cid"):
        await svc.add_consultant(name)
    leads = [qualified() for _ in range(30)]
    for lead in leads:
        await svc.publish(lead)
    for lead in leads:
        await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open")
    assert await _owners(svc, "d1") == {"ada": 10, "bob": 10, "cid": 10}

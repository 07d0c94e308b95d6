"""Every crm-queue route, lists too, walled off by dealer group and dealership: another group's
(or dealership's) lead answers 404 and is left as it was, lists never show it, and another
group's dealership policy can be neither read nor set."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.crm_queue.conftest import Crm, ingested

pytestmark = pytest.mark.integration

ACTIONS: list[tuple[str, dict[str, Any] | None]] = [
    ("claim", None),
    ("release", None),
    ("attempts", {"channel": "call", "outcome": "reached"}),
    ("qualify", {"outcome": "quotation.requested"}),
    ("lose", {"reason_code": "no_interest.other_car"}),
]
LIST_FILTERS = [
    {},
    {"state": "open"},
    {"overdue": "false"},
    {"agent": "ana"},
    {"source": "s1"},
    {"limit": "1000"},
]


def _dealership() -> str:
    return f"d-{uuid.uuid4().hex[:8]}"


async def _world(crm: Crm) -> tuple[str, str, Any, Any]:
    """acme's lead (claimed and tried by its agent ana) and globex's, in their dealerships."""
    acme_d, globex_d = _dealership(), _dealership()
    acme_lead = ingested(tenant="acme", dealership=acme_d)
    globex_lead = ingested(tenant="globex", dealership=globex_d)
    for lead in (acme_lead, globex_lead):
        await crm.publish(lead)
    await crm.task(acme_lead.lead_id, **crm.staff("admin", "acme", dealerships=()))
    await crm.task(globex_lead.lead_id, **crm.staff("admin", "globex", dealerships=()))
    ana = {"role": "agent", "tenant": "acme", "sub": "ana", "dealerships": (acme_d,)}
    assert (await crm.act(acme_lead.lead_id, "claim", **ana)).status_code == 200
    r = await crm.act(
        acme_lead.lead_id, "attempts", {"channel": "sms", "outcome": "voicemail"}, **ana
    )
    assert r.status_code == 201, r.text
    return acme_d, globex_d, acme_lead, globex_lead


def _outsiders(acme_d: str) -> list[dict[str, Any]]:
    """Staff who must not see acme's lead in `acme_d`."""
    return [
        {"role": "admin", "tenant": "globex", "dealerships": ()},  # all of globex
        {"role": "manager", "tenant": "globex", "dealerships": (acme_d,)},  # same id, other group
        {"role": "agent", "tenant": "globex", "dealerships": (acme_d,)},
        {"role": "manager", "tenant": "acme", "dealerships": (_dealership(),)},  # other dealership
        {"role": "agent", "tenant": "acme", "dealerships": (_dealership(),)},
    ]


async def test_lists_never_show_another_groups_or_dealerships_leads(crm: Crm) -> None:
    acme_d, _, acme_lead, globex_lead = await _world(crm)
    acme_id = str(acme_lead.lead_id)
    # The owners see their own (the lists work at all).
    acme_admin = crm.staff("admin", "acme", dealerships=())
    assert acme_id in {
        t["lead_id"] for t in (await crm.client.get("/v1/leads", headers=acme_admin)).json()
    }
    globex_admin = crm.staff("admin", "globex", dealerships=())
    r = await crm.client.get("/v1/queue", headers=globex_admin)
    assert [t["lead_id"] for t in r.json()] == [str(globex_lead.lead_id)]

    for who in _outsiders(acme_d):
        headers = crm.staff(sub="outsider", **who)
        r = await crm.client.get("/v1/queue", params={"limit": 200}, headers=headers)
        assert r.status_code == 200, (who, r.text)
        assert acme_id not in r.text, who
        if who["role"] == "agent":
            continue  # the manager view is for managers (403, tested elsewhere)
        for params in LIST_FILTERS:
            r = await crm.client.get("/v1/leads", params=params, headers=headers)
            assert r.status_code == 200, (who, params, r.text)
            assert acme_id not in r.text, (who, params)
            assert all(t["dealership_id"] != acme_d for t in r.json()), (who, params)


async def test_another_groups_lead_is_not_found_on_every_route_and_left_alone(crm: Crm) -> None:
    acme_d, _, acme_lead, _ = await _world(crm)
    owner = crm.staff("admin", "acme", dealerships=())
    before = await crm.task(acme_lead.lead_id, **owner)
    for who in _outsiders(acme_d):
        headers = crm.staff(sub="outsider", **who)
        r = await crm.client.get(f"/v1/leads/{acme_lead.lead_id}", headers=headers)
        assert r.status_code == 404, (who, r.text)
        for action, body in ACTIONS:
            r = await crm.client.post(
                f"/v1/leads/{acme_lead.lead_id}/{action}", json=body, headers=headers
            )
            assert r.status_code == 404, (who, action, r.text)
    after = await crm.task(acme_lead.lead_id, **owner)
    assert after == before  # still ana's lease, one attempt, open


async def test_another_groups_dealership_policy_is_not_found_and_left_alone(crm: Crm) -> None:
    acme_d, _, _, _ = await _world(crm)
    acme_manager = crm.staff("manager", "acme", dealerships=(acme_d,))
    policy = (await crm.client.get(f"/v1/dealerships/{acme_d}/policy", headers=acme_manager)).json()
    policy["sla"] = "PT30M"
    r = await crm.client.put(f"/v1/dealerships/{acme_d}/policy", json=policy, headers=acme_manager)
    assert r.status_code == 200, r.text

    tampered = policy | {"sla": "PT1M", "min_attempts": 1}
    for who in _outsiders(acme_d):
        if who["role"] == "agent":
            continue  # policies are for managers
        headers = crm.staff(sub="outsider", **who)
        path = f"/v1/dealerships/{acme_d}/policy"
        r = await crm.client.get(path, headers=headers)
        assert r.status_code == 404, (who, "GET", r.text)
        r = await crm.client.put(path, json=tampered, headers=headers)
        assert r.status_code == 404, (who, "PUT", r.text)
    r = await crm.client.get(f"/v1/dealerships/{acme_d}/policy", headers=acme_manager)
    assert (r.json()["sla"], r.json()["min_attempts"]) == ("PT30M", 6)

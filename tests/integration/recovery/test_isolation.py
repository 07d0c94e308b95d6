"""Tenants and dealerships are walled off on every route (another tenant's ids answer 404),
roles are checked, and every input is capped and free of control characters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.recovery.conftest import DAY, T0, Recovery, lead_lost

pytestmark = pytest.mark.integration


async def _due(svc: Recovery) -> dict[str, Any]:
    lost = lead_lost()
    await svc.publish(lost)
    await svc.run(lost.lead_id)
    await svc.move_to(T0 + 3 * DAY)
    [due] = await svc.due()
    return due


async def test_every_route_is_scoped_to_the_tenant_and_its_dealerships(svc: Recovery) -> None:
    due = await _due(svc)
    rid = due["recovery_id"]
    outsiders = {
        "other tenant agent": svc.staff(tenant="globex"),
        "other tenant manager": svc.staff("manager", tenant="globex"),
        "other tenant admin": svc.staff("admin", tenant="globex", dealerships=()),
        "other dealership agent": svc.staff(dealerships=("d2",)),
        "other dealership manager": svc.staff("manager", dealerships=("d2",)),
    }
    for who, headers in outsiders.items():
        for method, url, body in (
            ("GET", f"/v1/recovery/{rid}", None),
            ("POST", f"/v1/recovery/{rid}/claim", None),
            ("POST", f"/v1/recovery/{rid}/outcome", {"outcome": "reactivated"}),
        ):
            r = await svc.client.request(method, url, json=body, headers=headers)
            assert r.status_code == 404, (who, method, url, r.status_code, r.text)
        assert await svc.due(headers) == [], who
        r = await svc.client.get("/v1/recovery/due?dealership_id=d1", headers=headers)
        assert r.status_code == 200 and r.json() == [], who
        if "agent" not in who:
            r = await svc.client.get("/v1/recovery?state=due&state=ended", headers=headers)
            assert r.status_code == 200 and r.json() == [], who
    # Nothing the outsiders tried changed acme's follow-up.
    after = await svc.run(due["lead_id"])
    assert after["state"] == "due" and after["leased_by"] is None
    # acme's admin without dealerships sees it.
    admin = svc.staff("admin", dealerships=())
    assert [d["recovery_id"] for d in await svc.due(admin)] == [rid]


async def test_roles(svc: Recovery) -> None:
    due = await _due(svc)
    consultant = svc.staff("consultant", sub="cara")
    for method, url, body in (
        ("GET", "/v1/recovery/due", None),
        ("GET", f"/v1/recovery/{due['recovery_id']}", None),
        ("POST", f"/v1/recovery/{due['recovery_id']}/claim", None),
        ("GET", "/v1/recovery", None),
        ("GET", "/v1/recovery/cadences", None),
    ):
        r = await svc.client.request(method, url, json=body, headers=consultant)
        assert r.status_code == 403, (method, url)
    agent = svc.staff()
    for method, url, body in (
        ("GET", "/v1/recovery", None),
        ("GET", "/v1/recovery/cadences", None),
        ("PUT", "/v1/recovery/cadences", {"default": [1]}),
    ):
        r = await svc.client.request(method, url, json=body, headers=agent)
        assert r.status_code == 403, (method, url)
    assert (await svc.client.get("/v1/recovery/due")).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "no_answer", "note": "a\x00b"}, "note"),
        ({"outcome": "no_answer", "note": "x" * 4001}, "note"),
        ({"outcome": "bought_elsewhere", "same_brand": False, "brand": "BM\nW"}, "brand"),
        ({"outcome": "bought_elsewhere", "same_brand": False, "dealer": "d" * 201}, "dealer"),
        ({"outcome": "reactivated", "channel": "pigeon"}, "channel"),
        ({"outcome": "won"}, "outcome"),
        ({"outcome": "still_lost", "reason_code": "made.up"}, "reason_code"),
        ({"outcome": "dead", "surprise": 1}, "surprise"),
    ],
)
async def test_outcome_input_is_capped_and_validated_naming_the_field(
    svc: Recovery, body: dict[str, Any], field: str
) -> None:
    due = await _due(svc)
    r = await svc.act(due["recovery_id"], "outcome", body, headers=svc.manager())
    assert r.status_code == 422, r.text
    assert any(e["loc"][:2] == ["body", field] for e in r.json()["detail"]), r.text
    assert (await svc.run(due["lead_id"]))["state"] == "due"


async def test_query_parameters_are_capped(svc: Recovery) -> None:
    for url in (
        "/v1/recovery/due?limit=100000",
        "/v1/recovery/due?dealership_id=d%001",
        "/v1/recovery/due?dealership_id=" + "d" * 101,
        "/v1/recovery?state=nope",
        "/v1/recovery?lead_id=not-a-uuid",
    ):
        r = await svc.client.get(url, headers=svc.manager())
        assert r.status_code == 422, (url, r.text)

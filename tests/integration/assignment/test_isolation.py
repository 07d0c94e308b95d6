"""Tenants and dealerships are walled off on every route: another tenant's ids answer 404."""

from __future__ import annotations

import pytest

from tests.integration.assignment.conftest import Assignment, qualified

pytestmark = pytest.mark.integration

SALE = {"vehicle": {"make": "Volvo"}, "price": "1.00", "currency": "EUR"}


async def test_every_route_is_scoped_to_the_tenant_and_its_dealerships(svc: Assignment) -> None:
    await svc.add_consultant("ann")
    lead = qualified()
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["state"] == "open")
    # Same dealership and consultant names in another tenant; and acme's other dealership.
    outsiders = {
        "other tenant manager": svc.staff(tenant="globex"),
        "other tenant consultant": svc.consultant("ann", tenant="globex"),
        "other dealership manager": svc.staff(dealerships=("d2",)),
        "other dealership consultant": svc.consultant("ann", dealership="d2"),
    }
    p = f"/v1/prospects/{lead.lead_id}"
    profile = {"dealership_id": "d1", "name": "Ann"}
    for who, headers in outsiders.items():
        is_manager = "manager" in who
        calls = [
            ("GET", p, None),
            ("POST", f"{p}/activities", {"kind": "note"}),
            ("POST", f"{p}/win", SALE),
            ("POST", f"{p}/lose", {"reason_code": "prospect.price"}),
            ("GET", "/v1/consultants/ann", None),
            ("POST", "/v1/consultants/ann/clock-in", None),
            ("POST", "/v1/consultants/ann/clock-out", None),
            ("POST", "/v1/consultants/ann/follow-schedule", None),
        ]
        if is_manager:
            calls += [
                ("POST", f"{p}/reassign", {"consultant_id": "ann"}),
                ("PUT", "/v1/consultants/ann", profile),
            ]
            if who == "other dealership manager":
                calls += [
                    ("GET", "/v1/dealerships/d1/routing", None),
                    ("PUT", "/v1/dealerships/d1/routing", {}),
                ]
        else:
            calls += [("POST", f"{p}/claim", None)]
        for method, url, body in calls:
            r = await svc.client.request(method, url, json=body, headers=headers)
            assert r.status_code == 404, (who, method, url, r.status_code, r.text)
        lists = ["/v1/prospects/up-for-grabs"]
        lists += (
            ["/v1/prospects", "/v1/prospects/unassigned", "/v1/consultants"]
            if is_manager
            else ["/v1/prospects/mine"]
        )
        for url in lists:
            r = await svc.client.get(url, headers=headers)
            assert r.status_code == 200 and r.json() == [], (who, url, r.text)
    # A manager of another tenant configures their own d1, which is not acme's.
    r = await svc.client.put(
        "/v1/dealerships/d1/routing",
        json={"normal_sla_hours": 1},
        headers=svc.staff("manager", "globex"),
    )
    assert r.status_code == 200 and r.json()["version"] == 1
    r = await svc.client.get("/v1/dealerships/d1/routing", headers=svc.staff())
    assert r.json()["version"] == 0
    # Nothing the outsiders tried changed acme's prospect.
    after = await svc.prospect(lead.lead_id)
    assert after["state"] == "open" and after["consultant_id"] == "ann" and not after["activities"]


async def test_roles_managers_versus_consultants(svc: Assignment) -> None:
    await svc.add_consultant("bea")
    await svc.add_consultant("cas")
    me = svc.consultant("bea")
    for method, url, body in (
        ("POST", "/v1/consultants", {"consultant_id": "z", "dealership_id": "d1", "name": "z"}),
        ("PUT", "/v1/consultants/bea", {"dealership_id": "d1", "name": "z", "cap": 999}),
        ("GET", "/v1/consultants", None),
        ("PUT", "/v1/dealerships/d1/routing", {}),
        ("GET", "/v1/prospects/unassigned", None),
    ):
        r = await svc.client.request(method, url, json=body, headers=me)
        assert r.status_code == 403, (method, url)
    # A consultant clocks only themselves; an agent token gets nothing here.
    r = await svc.client.post("/v1/consultants/cas/clock-out", headers=me)
    assert r.status_code == 404
    r = await svc.client.get("/v1/prospects/mine", headers=svc.staff("agent", sub="bea"))
    assert r.status_code == 403
    r = await svc.client.get("/v1/prospects/mine")
    assert r.status_code == 401

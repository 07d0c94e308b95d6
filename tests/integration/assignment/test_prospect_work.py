"""Consultants work their prospects; managers see them all; input is capped and checked;
consent is honoured."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.assignment.conftest import T0, Assignment, erased, qualified

pytestmark = pytest.mark.integration


async def _owned_by(svc: Assignment, consultant: str, **kw: object) -> object:
    lead = qualified(**kw)  # type: ignore[arg-type]
    await svc.publish(lead)
    await svc.prospect(lead.lead_id, until=lambda p: p["consultant_id"] == consultant)
    return lead.lead_id


async def test_consultant_sees_only_their_prospects_and_works_them(svc: Assignment) -> None:
    await svc.add_consultant("ana")
    mine = await _owned_by(svc, "ana")
    await svc.add_consultant("ben")
    r = await svc.client.post("/v1/consultants/ana/clock-out", headers=svc.consultant("ana"))
    assert r.status_code == 200 and r.json()["present"] is False
    theirs = await _owned_by(svc, "ben")
    r = await svc.client.get("/v1/prospects/mine", headers=svc.consultant("ana"))
    assert [p["lead_id"] for p in r.json()] == [str(mine)]
    r = await svc.client.get(f"/v1/prospects/{theirs}", headers=svc.consultant("ana"))
    assert r.status_code == 404
    r = await svc.act(theirs, "activities", {"kind": "note"}, headers=svc.consultant("ana"))
    assert r.status_code == 404
    r = await svc.act(
        mine,
        "activities",
        {"kind": "test_drive", "note": "XC60 T8,\nloved it", "at": "2026-03-02T09:30:00Z"},
        headers=svc.consultant("ana"),
    )
    assert r.status_code == 201, r.text
    [activity] = r.json()["activities"]
    assert activity["kind"] == "test_drive" and activity["note"] == "XC60 T8,\nloved it"
    # Managers see every open prospect with its next follow-up; consultants may not.
    r = await svc.client.get("/v1/prospects", headers=svc.consultant("ana"))
    assert r.status_code == 403
    r = await svc.client.get("/v1/prospects", headers=svc.staff())
    assert {p["lead_id"] for p in r.json()} == {str(mine), str(theirs)}
    r = await svc.client.get("/v1/prospects?consultant_id=ben", headers=svc.staff())
    assert [p["lead_id"] for p in r.json()] == [str(theirs)]


async def test_win_publishes_the_sale(svc: Assignment) -> None:
    await svc.add_consultant("cal")
    lead_id = await _owned_by(svc, "cal")
    sale = {
        "vehicle": {"year": 2026, "make": "Volvo", "model": "XC60", "condition": "new"},
        "price": "61990.00",
        "currency": "EUR",
    }
    r = await svc.act(lead_id, "win", sale, headers=svc.consultant("cal"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "won"
    [won] = await svc.events.wait_for("prospect.won", lead_id=lead_id)
    assert won["payload"]["consultant_id"] == "cal"
    assert won["payload"]["amount"] == "61990.00"
    assert won["payload"]["vehicle"]["model"] == "XC60"
    r = await svc.act(lead_id, "win", sale, headers=svc.consultant("cal"))
    assert r.status_code == 409 and r.json()["rule"] == "prospect.closed"


@pytest.mark.parametrize(
    ("body", "field_or_rule"),
    [
        ({"reason_code": "bought_elsewhere.other_brand", "competitor_dealer": "X"}, "lost."),
        ({"reason_code": "bought_elsewhere.same_brand"}, "lost."),
        ({"reason_code": "prospect.postponed"}, "lost."),
        ({"reason_code": "prospect.postponed", "postponed_until": "2026-01-01"}, "lost."),
        ({"reason_code": "too expensive"}, "reason_code"),
        ({"note": "no code"}, "reason_code"),
    ],
)
async def test_losing_needs_a_code_and_its_details(
    svc: Assignment, body: dict[str, str], field_or_rule: str
) -> None:
    await svc.add_consultant("dan")
    lead_id = await _owned_by(svc, "dan")
    r = await svc.act(lead_id, "lose", body, headers=svc.consultant("dan"))
    assert r.status_code == 422, r.text
    if field_or_rule == "lost.":
        assert r.json()["rule"] == "lost.details_required"
    else:
        assert r.json()["detail"][0]["loc"][-1] == field_or_rule


async def test_lost_with_structured_details(svc: Assignment) -> None:
    await svc.add_consultant("eli")
    lead_id = await _owned_by(svc, "eli")
    r = await svc.act(
        lead_id,
        "lose",
        {
            "reason_code": "bought_elsewhere.other_brand",
            "competitor_brand": "BMW",
            "competitor_dealer": "BMW Nord",
            "note": "got a better trade-in",
        },
        headers=svc.consultant("eli"),
    )
    assert r.status_code == 200, r.text
    [lost] = await svc.events.wait_for("prospect.lost", lead_id=lead_id)
    payload = lost["payload"]
    assert payload["reason_code"] == "bought_elsewhere.other_brand"
    assert payload["category"] == "bought_elsewhere"
    assert (payload["competitor_brand"], payload["competitor_dealer"]) == ("BMW", "BMW Nord")
    other = await _owned_by(svc, "eli")
    r = await svc.act(
        other,
        "lose",
        {"reason_code": "prospect.postponed", "postponed_until": "2026-09-01"},
        headers=svc.consultant("eli"),
    )
    assert r.status_code == 200, r.text
    [postponed] = await svc.events.wait_for("prospect.lost", lead_id=other)
    assert postponed["payload"]["postponed_until"] == "2026-09-01"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/consultants",
            {"consultant_id": "x", "dealership_id": "d1", "name": "a\x00b"},
            "name",
        ),
        (
            "/v1/consultants",
            {"consultant_id": "x", "dealership_id": "d1", "name": "n" * 201},
            "name",
        ),
        (
            "/v1/consultants",
            {"consultant_id": "x y", "dealership_id": "d1", "name": "n"},
            "consultant_id",
        ),
        (
            "/v1/consultants",
            {"consultant_id": "x", "dealership_id": "d1", "name": "n", "brands": ["b"] * 51},
            "brands",
        ),
        (
            "/v1/consultants",
            {"consultant_id": "x", "dealership_id": "d1", "name": "n", "cap": -1},
            "cap",
        ),
        (
            "/v1/consultants",
            {
                "consultant_id": "x",
                "dealership_id": "d1",
                "name": "n",
                "hours": {"timezone": "Mars/Base", "week": {}},
            },
            "timezone",
        ),
        (
            "/v1/consultants",
            {
                "consultant_id": "x",
                "dealership_id": "d1",
                "name": "n",
                "hours": {"timezone": "UTC", "week": {"mon": [["18:00", "09:00"]]}},
            },
            "hours",
        ),
        (
            "/v1/consultants",
            {"consultant_id": "x", "dealership_id": "d1", "name": "n", "x": 1},
            "x",
        ),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    svc: Assignment, path: str, body: dict[str, object], field: str
) -> None:
    r = await svc.client.post(path, json=body, headers=svc.staff())
    assert r.status_code == 422, r.text
    assert field in [str(part) for part in r.json()["detail"][0]["loc"]]


async def test_activity_notes_refuse_control_characters_and_are_capped(svc: Assignment) -> None:
    await svc.add_consultant("fio")
    lead_id = await _owned_by(svc, "fio")
    for note in ("nul\x00byte", "bell\x07", "x" * 4001):
        r = await svc.act(
            lead_id, "activities", {"kind": "note", "note": note}, headers=svc.consultant("fio")
        )
        assert r.status_code == 422, note
        assert r.json()["detail"][0]["loc"][-1] == "note"
    r = await svc.act(lead_id, "activities", {"kind": "lunch"}, headers=svc.consultant("fio"))
    assert r.status_code == 422


async def test_routing_refuses_what_it_cannot_read(svc: Assignment) -> None:
    for body in (
        {"rules": [{"name": "a", "method": "lottery"}]},
        {"rules": [{"name": "a"}, {"name": "a"}]},
        {"rules": [{"name": "a", "match": {"time_from": "09:00"}}]},
        {"rules": [{"name": "a", "match": {"days": ["someday"]}}]},
        {"rules": [{"name": "r"}] * 101},
    ):
        r = await svc.client.put("/v1/dealerships/d1/routing", json=body, headers=svc.staff())
        assert r.status_code == 422, body
    r = await svc.client.get("/v1/dealerships/d1/routing", headers=svc.staff())
    assert r.json()["version"] == 0


async def test_do_not_contact_is_shown_on_every_prospect_of_the_person(svc: Assignment) -> None:
    await svc.add_consultant("gia")
    first = await _owned_by(svc, "gia", email="zoe@example.com")
    second = await _owned_by(svc, "gia", email="zoe@example.com")
    r = await svc.act(
        first,
        "lose",
        {"reason_code": "no_interest.do_not_contact"},
        headers=svc.consultant("gia"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["do_not_contact"] is True
    assert (await svc.prospect(second))["do_not_contact"] is True
    [lost] = await svc.events.wait_for("prospect.lost", lead_id=first)
    assert lost["payload"]["do_not_contact"] is True


async def test_erasure_scrubs_the_person_even_before_the_prospect_arrives(
    svc: Assignment,
) -> None:
    await svc.add_consultant("hana")
    here = await _owned_by(svc, "hana")
    r = await svc.act(
        here, "activities", {"kind": "note", "note": "wife is Jane"}, headers=svc.consultant("hana")
    )
    assert r.status_code == 201
    later = qualified()
    await svc.publish(erased("acme", here, later.lead_id))
    p = await svc.prospect(here, until=lambda p: p["erased_at"] is not None)
    assert p["person"] == {} and p["do_not_contact"] is True
    assert p["activities"][0]["note"] is None
    assert all("comments" not in e for e in p["enquiries"])
    svc.clock.advance(timedelta(minutes=1))
    await svc.publish(later)
    p = await svc.prospect(later.lead_id, until=lambda p: p["state"] == "open")
    assert p["person"] == {} and p["erased_at"] is not None and p["do_not_contact"] is True
    assert p["qualified_at"].startswith(T0.date().isoformat())

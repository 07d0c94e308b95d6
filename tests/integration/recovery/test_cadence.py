"""The cadence per lost reason, on a moved clock: which steps, when, on which channel, and how
it ends; nothing for the reasons recovery never follows up."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.contracts import ConsentV1, LostReasonCode
from tests.integration.recovery.conftest import (
    DAY,
    T0,
    Recovery,
    lead_lost,
    person,
    prospect_lost,
)

pytestmark = pytest.mark.integration

R = LostReasonCode


def _days(events: list[dict[str, Any]], start: datetime = T0) -> list[float]:
    return [
        (datetime.fromisoformat(e["payload"]["due_at"]) - start) / DAY
        for e in sorted(events, key=lambda e: e["payload"]["step"])
    ]


async def _work_every_step_unanswered(svc: Recovery, lead_id: Any, steps: int) -> None:
    """At each step's due time: it is in the due list; claim it; nobody answers."""
    for step in range(1, steps + 1):
        run = await svc.run(lead_id)
        await svc.move_to(datetime.fromisoformat(run["due_at"]))
        [due] = [d for d in await svc.due() if d["lead_id"] == str(lead_id)]
        assert due["step"] == step and due["state"] == "due" and due["channel"] == "call"
        assert (await svc.act(due["recovery_id"], "claim", headers=svc.staff())).status_code == 200
        r = await svc.act(
            due["recovery_id"], "outcome", {"outcome": "no_answer"}, headers=svc.staff()
        )
        assert r.status_code == 200, r.text


async def test_a_lead_not_reached_is_called_on_day_3_7_14_30_60_90_then_dead(
    svc: Recovery,
) -> None:
    lost = lead_lost(R.NOT_REACHED_MAX_ATTEMPTS)
    await svc.publish(lost)
    run = await svc.run(lost.lead_id)
    assert run["state"] == "scheduled" and run["step"] == 1 and run["channel"] == "call"
    assert run["cadence"] == [3, 7, 14, 30, 60, 90] and run["person"]["last_name"] == "Roe"
    await svc.move(2 * DAY)
    assert await svc.due() == []  # not due before day 3
    await _work_every_step_unanswered(svc, lost.lead_id, 6)
    scheduled = await svc.events.wait_for("recovery.scheduled", 6, lead_id=lost.lead_id)
    assert _days(scheduled) == [3, 7, 14, 30, 60, 90]
    assert [e["payload"]["sequence"] for e in scheduled] == sorted(
        e["payload"]["sequence"] for e in scheduled
    )
    attempts = await svc.events.wait_for("recovery.attempted", 6, lead_id=lost.lead_id)
    assert {e["payload"]["outcome"] for e in attempts} == {"no_answer"}
    [dead] = await svc.events.wait_for("lead.dead", lead_id=lost.lead_id)
    assert dead["payload"]["reason"] == "cadence_exhausted"
    [ended] = await svc.events.wait_for("recovery.ended", lead_id=lost.lead_id)
    assert ended["payload"]["outcome"] == "exhausted" and ended["payload"]["steps"] == 6
    run = await svc.run(lost.lead_id)
    r = await svc.client.get(f"/v1/recovery/{run['recovery_id']}", headers=svc.staff())
    assert r.json()["state"] == "ended" and r.json()["outcome"] == "exhausted"
    assert [a["step"] for a in r.json()["attempts"]] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("reason", "who", "consent", "unusable"),
    [
        (R.POLLUTION_NO_PHONE, person(phone=None), None, ()),
        (R.NOT_REACHED_REFUSED_CALL, person(), None, ()),  # the phone is there: email anyway
        (R.NOT_REACHED_MAX_ATTEMPTS, person(), None, ("call", "sms", "whatsapp")),
        (R.NOT_REACHED_MAX_ATTEMPTS, person(), ConsentV1(phone=False, sms=False), ()),
    ],
    ids=["no_phone", "refused_call", "wrong_number", "no_phone_consent"],
)
async def test_email_steps_are_sent_by_themselves_and_never_use_the_phone(
    svc: Recovery,
    reason: LostReasonCode,
    who: Any,
    consent: ConsentV1 | None,
    unusable: tuple[str, ...],
) -> None:
    lost = lead_lost(reason, who=who, consent=consent, unusable=unusable)
    await svc.publish(lost)
    assert (await svc.run(lost.lead_id))["channel"] == "email"
    for day in (3, 7, 14, 30, 60, 90):
        await svc.move_to(T0 + day * DAY)
        assert await svc.due() == []  # nobody has to work an email step
    sent = await svc.events.wait_for("recovery.attempted", 6, lead_id=lost.lead_id)
    steps = [(e["payload"]["step"], e["payload"]["channel"], e["payload"]["outcome"]) for e in sent]
    assert steps == [(step, "email", "sent") for step in range(1, 7)]
    assert all(e["payload"]["agent_id"] is None for e in sent)
    [dead] = await svc.events.wait_for("lead.dead", lead_id=lost.lead_id)
    assert dead["payload"]["reason"] == "cadence_exhausted"
    events = await svc.events.settle()
    scheduled = [e for e in events if e["event_type"] == "recovery.scheduled"]
    assert {e["payload"]["channel"] for e in scheduled} == {"email"} and len(scheduled) == 6


async def test_short_cadence_reasons_stop_after_day_14(svc: Recovery) -> None:
    lost = lead_lost(R.NO_INTEREST_FOLLOW_UP)
    await svc.publish(lost)
    run = await svc.run(lost.lead_id)
    assert run["cadence"] == [3, 7, 14]
    await _work_every_step_unanswered(svc, lost.lead_id, 3)
    [dead] = await svc.events.wait_for("lead.dead", lead_id=lost.lead_id)
    assert dead["payload"]["reason"] == "cadence_exhausted"
    scheduled = await svc.events.wait_for("recovery.scheduled", 3, lead_id=lost.lead_id)
    assert _days(scheduled) == [3, 7, 14]


@pytest.mark.parametrize(
    "reason",
    [
        R.POLLUTION_TEST,
        R.POLLUTION_DUPLICATE,
        R.POLLUTION_NOT_FOR_BDC,
        R.INVALID_PERSONAL_DATA,
        R.NO_INTEREST_CONTACTED_DEALER,
        R.NO_INTEREST_DO_NOT_CONTACT,
    ],
)
async def test_reasons_not_followed_up_schedule_nothing(
    svc: Recovery, reason: LostReasonCode
) -> None:
    lost = lead_lost(reason)
    await svc.publish(lost)
    run = await svc.run(lost.lead_id, until=lambda runs: bool(runs))
    expected = "do_not_contact" if reason is R.NO_INTEREST_DO_NOT_CONTACT else "not_recoverable"
    assert run["state"] == "ended" and run["outcome"] == expected and run["due_at"] is None
    [dead] = await svc.events.wait_for("lead.dead", lead_id=lost.lead_id)
    assert dead["payload"]["reason"] == expected
    for day in (3, 7, 14, 30, 60, 90, 120):
        assert await svc.move_to(T0 + day * DAY) == 0
    assert await svc.due() == []
    events = await svc.events.settle()
    kinds = {e["event_type"] for e in events}
    assert not kinds & {"recovery.scheduled", "recovery.attempted"}
    if reason is R.NO_INTEREST_DO_NOT_CONTACT:
        assert run["person"] == {}  # consent wins: nothing kept of who it was


async def test_a_tenant_sets_its_own_days_per_reason(svc: Recovery) -> None:
    manager = svc.manager()
    body = {"default": [2, 5], "reasons": {"prospect.price": [1, 4, 9]}}
    r = await svc.client.put("/v1/recovery/cadences", json=body, headers=manager)
    assert r.status_code == 200, r.text
    effective = r.json()["effective"]
    assert effective["prospect.price"] == [1, 4, 9]
    assert effective["not_reached.max_attempts"] == [2, 5]
    assert effective["no_interest.self_visit"] == [3, 7, 14]  # built-in short cadence stays
    assert "pollution.test" not in effective
    price, other = prospect_lost(R.PROSPECT_PRICE), lead_lost(R.NOT_REACHED_MAX_ATTEMPTS)
    await svc.publish(price)
    await svc.publish(other)
    assert (await svc.run(price.lead_id))["cadence"] == [1, 4, 9]
    assert (await svc.run(other.lead_id))["cadence"] == [2, 5]
    # Another tenant keeps the defaults.
    elsewhere = prospect_lost(R.PROSPECT_PRICE, tenant="globex")
    await svc.publish(elsewhere)
    assert (await svc.run(elsewhere.lead_id, tenant="globex"))["cadence"] == [3, 7, 14, 30, 60, 90]
    r = await svc.client.get("/v1/recovery/cadences", headers=svc.manager("globex"))
    assert r.json()["default"] is None and r.json()["reasons"] == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reasons": {"pollution.test": [3]}}, "reasons"),
        ({"reasons": {"no.such_code": [3]}}, "reasons"),
        ({"reasons": {"prospect.price": [7, 3]}}, "prospect.price"),
        ({"default": []}, "default"),
        ({"default": list(range(1, 30))}, "default"),
        ({"default": [3, 4000]}, "default"),
        ({"default": [3], "extra": 1}, "extra"),
    ],
)
async def test_cadences_are_validated_naming_the_field(
    svc: Recovery, body: dict[str, Any], field: str
) -> None:
    r = await svc.client.put("/v1/recovery/cadences", json=body, headers=svc.manager())
    assert r.status_code == 422, r.text
    assert any(field in [str(p) for p in e["loc"]] for e in r.json()["detail"]), r.text


async def test_a_postponed_purchase_counts_from_the_stated_date(svc: Recovery) -> None:
    until = (T0 + 60 * DAY).date()
    lost = prospect_lost(R.PROSPECT_POSTPONED, postponed_until=until)
    await svc.publish(lost)
    run = await svc.run(lost.lead_id)
    assert datetime.fromisoformat(run["starts_at"]) == T0 + 60 * DAY
    assert datetime.fromisoformat(run["due_at"]) == T0 + 63 * DAY
    assert await svc.move_to(T0 + 62 * DAY) == 0
    assert await svc.move_to(T0 + 63 * DAY) == 1
    assert [d["lead_id"] for d in await svc.due()] == [str(lost.lead_id)]


async def test_lost_prospects_come_first_in_the_due_list(svc: Recovery) -> None:
    lead = lead_lost(R.NOT_REACHED_MAX_ATTEMPTS, lost_at=T0 - DAY)  # due a day earlier
    prospect = prospect_lost(R.PROSPECT_PRICE)
    await svc.publish(lead)
    await svc.publish(prospect)
    await svc.run(lead.lead_id)
    await svc.run(prospect.lead_id)
    await svc.move_to(T0 + 3 * DAY)
    due = await svc.due()
    assert [d["lead_id"] for d in due] == [str(prospect.lead_id), str(lead.lead_id)]
    assert [d["origin"] for d in due] == ["prospect", "lead"]
    # An open step nobody works is passed over when the next one falls due.
    await svc.move_to(T0 + 7 * DAY)
    due = {d["lead_id"]: d["step"] for d in await svc.due()}
    assert due == {str(prospect.lead_id): 2, str(lead.lead_id): 2}
    await svc.move_to(T0 + timedelta(days=7, hours=1))
    assert {d["lead_id"]: d["step"] for d in await svc.due()} == due

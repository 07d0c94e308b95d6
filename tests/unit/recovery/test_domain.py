"""recovery's domain without I/O: how a run starts, fires, takes outcomes and ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recovery.domain.cadence import Cadences
from recovery.domain.recovery import Loss, OutcomeDetails, Recovery, Refused
from shared.contracts import LostReasonCode

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
R = LostReasonCode
PERSON = {"first_name": "Ann", "email": "ann@example.com", "phone": "+4915112345678"}


def start(reason: LostReasonCode = R.NOT_REACHED_MAX_ATTEMPTS, **kw: Any) -> Recovery:
    options = {k: kw.pop(k) for k in ("erased", "blocked", "returned_to") if k in kw}
    loss = Loss(
        recovery_id=uuid.uuid4(),
        tenant_id="acme",
        dealership_id="d1",
        lead_id=uuid.uuid4(),
        origin="lead",
        reason_code=reason,
        lost_at=T0,
        starts_at=kw.pop("starts_at", T0),
        person=kw.pop("person", PERSON),
        **kw,
    )
    return Recovery.start(loss, Cadences(), T0, **options)


def kinds(r: Recovery) -> list[str]:
    return [e.event_type for e in r.pull_events()]


def test_a_recoverable_loss_schedules_step_one_on_day_three_by_phone() -> None:
    r = start()
    assert (r.state, r.step, r.due_at, r.channel) == ("scheduled", 1, T0 + 3 * DAY, "call")
    assert kinds(r) == ["recovery.scheduled"]


@pytest.mark.parametrize(
    ("kw", "channel"),
    [
        ({}, "call"),
        ({"unusable_channels": frozenset({"call"})}, "sms"),
        ({"consent": {"phone": False}}, "sms"),
        ({"consent": {"phone": False, "sms": False}}, "email"),
        ({"person": {"email": "a@example.com"}}, "email"),
        ({"person": {"phone": "+4915112345678"}, "consent": {"phone": False, "sms": False}}, None),
    ],
)
def test_the_channel_follows_phone_consent_and_what_is_known_not_to_work(
    kw: dict[str, Any], channel: str | None
) -> None:
    r = start(**kw)
    assert r.choose_channel() == channel
    if channel is None:
        assert r.state == "ended" and r.outcome == "no_channel"


def test_email_only_reasons_never_call() -> None:
    assert start(R.NOT_REACHED_REFUSED_CALL).channel == "email"


@pytest.mark.parametrize(
    ("options", "outcome", "events"),
    [
        ({"erased": True}, "erased", ["lead.dead", "recovery.ended"]),
        ({"blocked": True}, "do_not_contact", ["lead.dead", "recovery.ended"]),
        ({"do_not_contact": True}, "do_not_contact", ["lead.dead", "recovery.ended"]),
        ({"returned_to": uuid.uuid4()}, "returned", ["recovery.ended"]),
    ],
)
def test_a_run_ends_at_once_when_consent_or_a_return_says_so(
    options: dict[str, Any], outcome: str, events: list[str]
) -> None:
    r = start(**options)
    assert r.state == "ended" and r.outcome == outcome and kinds(r) == events
    assert r.fire_at is None


def test_an_open_call_step_is_passed_over_when_the_next_falls_due() -> None:
    r = start()
    r.pull_events()
    assert not r.fire(T0 + 2 * DAY)
    assert r.fire(T0 + 3 * DAY) and r.state == "due" and r.fire_at == T0 + 7 * DAY
    assert r.fire(T0 + 7 * DAY) and (r.state, r.step) == ("due", 2)
    assert kinds(r) == ["recovery.scheduled"]


def test_an_email_step_is_sent_by_itself_and_the_last_one_ends_the_cadence() -> None:
    r = start(R.POLLUTION_NO_PHONE)
    for day in (3, 7, 14, 30, 60, 90):
        assert r.fire(T0 + day * DAY)
    assert r.state == "ended" and r.outcome == "exhausted" and r.steps_opened == 6
    events = r.pull_events()
    assert [e.event_type for e in events].count("recovery.attempted") == 6
    assert [e.event_type for e in events][-2:] == ["lead.dead", "recovery.ended"]


def test_outcomes_need_the_lease_and_bought_elsewhere_needs_the_brand_answer() -> None:
    r = start()
    r.fire(T0 + 3 * DAY)
    now = T0 + 3 * DAY
    with pytest.raises(Refused, match=r"lease\.required"):
        r.record("ana", "no_answer", now, Cadences())
    r.claim("ana", now, timedelta(minutes=10))
    with pytest.raises(Refused, match=r"lease\.held_by_other"):
        r.claim("ben", now, timedelta(minutes=10))
    with pytest.raises(Refused, match=r"outcome\.details_required"):
        r.record("ana", "bought_elsewhere", now, Cadences())
    r.record("ana", "bought_elsewhere", now, Cadences(), details=OutcomeDetails(same_brand=False))
    assert r.reason_code is R.BOUGHT_ELSEWHERE_OTHER_BRAND and r.outcome == "bought_elsewhere"
    with pytest.raises(Refused, match=r"recovery\.ended"):
        r.claim("ana", now, timedelta(minutes=10))


def test_a_late_conversation_never_schedules_the_next_step_for_the_same_day() -> None:
    r = start()
    r.fire(T0 + 3 * DAY)
    late = T0 + timedelta(days=6, hours=23)
    r.record("mia", "still_lost", late, Cadences(), as_manager=True)
    assert r.step == 2 and r.due_at == late + DAY


def test_stop_scrubs_the_person() -> None:
    r = start(email_key="e", phone_key="p")
    r.stop("erased", T0)
    assert r.person == {} and r.email_key is None and r.phone_key is None
    assert r.scrubbed_at == T0


@pytest.mark.parametrize(
    "config",
    [
        {"reasons": {"pollution.test": [3]}},
        {"default": [3, 3]},
        {"default": []},
        {"default": [True]},
        {"default": [-1]},
    ],
)
def test_cadences_refuse_what_recovery_cannot_follow(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Cadences.from_json(config)

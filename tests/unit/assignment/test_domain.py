"""assignment's pure domain: presence, rules, the choice of a consultant, the prospect."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from assignment.domain.consultant import Absence, Consultant, Needs
from assignment.domain.prospect import LossDetails, Prospect, Refused, check_loss
from assignment.domain.rules import Routing, RoutingFacts
from assignment.domain.schedule import WeeklyHours
from assignment.domain.selection import Candidate, choose

MON_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
BERLIN_DAY = WeeklyHours.from_json(
    {
        "timezone": "Europe/Berlin",
        "week": {"mon": [["09:00", "18:00"]], "tue": [["22:00", "24:00"]]},
    }
)


def consultant(**kw: object) -> Consultant:
    return Consultant(tenant_id="t", consultant_id="c", dealership_id="d", name="C", **kw)  # type: ignore[arg-type]


def test_presence_clock_schedule_absence_and_inactive() -> None:
    by_schedule = consultant(hours=BERLIN_DAY)
    assert by_schedule.is_present(MON_10)  # 11:00 in Berlin
    assert not by_schedule.is_present(MON_10 + timedelta(hours=8))  # 19:00 in Berlin
    assert consultant(hours=BERLIN_DAY, clocked=False).is_present(MON_10) is False
    assert consultant(clocked=True).is_present(MON_10 + timedelta(hours=12))
    assert not consultant(clocked=None).is_present(MON_10)  # no hours, not clocked in
    away = Absence(MON_10 - timedelta(days=1), MON_10 + timedelta(days=1))
    assert not consultant(clocked=True, absences=(away,)).is_present(MON_10)
    assert not consultant(clocked=True, active=False).is_present(MON_10)


def test_next_presence_start_is_the_next_shift_or_the_end_of_an_absence() -> None:
    assert consultant(hours=BERLIN_DAY).next_presence_start(MON_10) == datetime(
        2026, 3, 3, 21, 0, tzinfo=UTC
    )  # Tuesday 22:00 in Berlin
    back = MON_10 + timedelta(hours=2)
    away = Absence(MON_10 - timedelta(days=1), back)
    assert consultant(clocked=True, absences=(away,)).next_presence_start(MON_10) == back
    assert consultant(clocked=False, hours=BERLIN_DAY).next_presence_start(MON_10) is None


def test_skills_and_cap() -> None:
    volvo_new = consultant(brands=frozenset({"volvo"}), conditions=frozenset({"new"}), clocked=True)
    assert volvo_new.can_take(Needs("volvo", "new", None), 24, MON_10)
    assert not volvo_new.can_take(Needs("volvo", "new", None), 25, MON_10)  # at the cap
    assert not volvo_new.can_take(Needs("bmw", None, None), 0, MON_10)
    assert not volvo_new.can_take(Needs(None, "used", None), 0, MON_10)
    assert volvo_new.can_take(Needs(None, None, "fr"), 0, MON_10)  # speaks no listed language
    assert not consultant(languages=frozenset({"de"}), clocked=True).can_take(
        Needs(None, None, "fr"), 0, MON_10
    )


def test_first_matching_rule_wins_and_the_rest_goes_to_the_default_pool() -> None:
    routing = Routing.from_json(
        {
            "timezone": "Europe/Berlin",
            "rules": [
                {
                    "name": "night",
                    "match": {"time_from": "22:00", "time_to": "06:00"},
                    "pool": ["n"],
                },
                {"name": "bmw", "match": {"makes": ["BMW"], "days": ["mon"]}, "pool": ["b"]},
                {"name": "hot", "match": {"hot": True}, "pool": ["h"], "method": "least_loaded"},
            ],
            "default": {"pool": ["x"], "method": "close_rate"},
        },
        3,
    )
    assert routing.route(RoutingFacts(make="bmw"), MON_10).pool == ("b",)
    assert routing.route(RoutingFacts(make="bmw"), MON_10 + timedelta(days=1)).rule is None
    late = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Berlin: the night window
    assert routing.route(RoutingFacts(make="bmw"), late).rule == "night"
    assert (
        routing.route(RoutingFacts(hot=True), MON_10 + timedelta(days=1)).method == "least_loaded"
    )
    fallback = routing.route(RoutingFacts(), MON_10 + timedelta(days=1))
    assert (fallback.rule, fallback.pool, fallback.method) == (None, ("x",), "close_rate")
    with pytest.raises(ValueError, match="unique"):
        Routing.from_json({"rules": [{"name": "a"}, {"name": "a"}]}, 1)


def test_round_robin_and_least_loaded() -> None:
    t = MON_10
    a = Candidate("a", 0, open_prospects=3, last_assigned_at=t)
    b = Candidate("b", 1, open_prospects=1, last_assigned_at=t + timedelta(minutes=1))
    c = Candidate("c", 2, open_prospects=1, last_assigned_at=None)
    assert choose("round_robin", [a, b, c]).consultant_id == "c"  # never had one
    assert choose("round_robin", [a, b]).consultant_id == "a"
    assert choose("least_loaded", [a, b]).consultant_id == "b"


def test_close_rate_hands_out_in_proportion_to_recent_closing() -> None:
    """Over many turns the good closer (75%) gets about three times the weak one's (25%)."""
    given: Counter[str] = Counter()
    for _ in range(400):
        pool = [
            Candidate(
                "good",
                0,
                0,
                None,
                won_recently=14,
                lost_recently=4,
                assigned_recently=given["good"],
            ),
            Candidate(
                "weak",
                1,
                0,
                None,
                won_recently=4,
                lost_recently=14,
                assigned_recently=given["weak"],
            ),
        ]
        given[choose("close_rate", pool).consultant_id] += 1
    assert 2.5 < given["good"] / given["weak"] < 3.5


def _prospect() -> Prospect:
    return Prospect(lead_id=uuid.uuid4(), tenant_id="t", dealership_id="d")


def test_reactivation_reopens_a_loss_once_and_never_a_sale() -> None:
    p = _prospect()
    p.assign("a", MON_10, reason="rule", respond_by=MON_10 + timedelta(hours=48))
    p.lose("a", MON_10, reason_code="prospect.price", note=None, details=LossDetails())
    assert p.reactivate(MON_10 + timedelta(days=3), hot=True)
    assert p.state == "unassigned" and p.hot and p.consultant_id == "a"
    assert not p.reactivate(MON_10 + timedelta(days=2), hot=True)  # older: stale
    won = _prospect()
    won.assign("a", MON_10, reason="rule", respond_by=MON_10)
    won.win("a", MON_10, vehicle=None, amount=None, currency=None)
    assert not won.reactivate(MON_10 + timedelta(days=3), hot=True) and won.state == "won"


def test_loss_details_by_reason() -> None:
    today = date(2026, 3, 2)
    with pytest.raises(Refused, match="competitor_dealer"):
        check_loss("bought_elsewhere.same_brand", LossDetails(), today)
    with pytest.raises(Refused, match="competitor_brand"):
        check_loss("bought_elsewhere.other_brand", LossDetails(competitor_dealer="X"), today)
    with pytest.raises(Refused, match="past"):
        check_loss("prospect.postponed", LossDetails(postponed_until=date(2026, 3, 1)), today)
    with pytest.raises(Refused) as refused:
        check_loss("cheaper elsewhere", LossDetails(), today)
    assert refused.value.rule == "lost.reason_unknown"
    assert check_loss("prospect.price", LossDetails(), today).value == "prospect.price"


def test_only_the_owner_works_a_prospect_and_acting_stops_escalation() -> None:
    p = _prospect()
    p.assign("a", MON_10, reason="rule", respond_by=MON_10 + timedelta(hours=24))
    with pytest.raises(Refused, match="another consultant"):
        p.record_activity("b", MON_10, None)
    p.record_activity("a", MON_10 + timedelta(hours=1), None)
    assert not p.escalate(MON_10 + timedelta(hours=25))
    p.assign("b", MON_10 + timedelta(hours=26), reason="manager", respond_by=MON_10)
    assert p.escalate(MON_10 + timedelta(hours=27))  # b has not acted since
    assert not p.escalate(MON_10 + timedelta(hours=28))  # once per assignment
    assert [type(e).__name__ for e in p.pull_events()] == ["Assigned", "Reassigned", "Escalated"]


def test_an_enquiry_shows_on_an_open_prospect_until_its_owner_acts_after_it() -> None:
    h = timedelta(hours=1)
    p = _prospect()
    p.assign("a", MON_10, reason="rule", respond_by=MON_10 + 48 * h)
    assert p.hear_enquiry(MON_10 + h) and p.enquired_at == MON_10 + h
    assert not p.hear_enquiry(MON_10 + h)  # again: nothing changes
    assert not p.hear_enquiry(MON_10 + h / 2)  # an older one: the latest shows
    p.record_activity("a", MON_10 + h / 2, None)  # logged as done before it: still unanswered
    assert p.enquired_at == MON_10 + h
    p.record_activity("b", MON_10 + 2 * h, None, as_manager=True)  # a manager's note: too
    assert p.enquired_at == MON_10 + h
    p.record_activity("a", MON_10 + 2 * h, None)
    assert p.enquired_at is None
    assert not p.hear_enquiry(MON_10 + 90 * timedelta(minutes=1))  # reached us after the call
    assert p.hear_enquiry(MON_10 + 3 * h)
    assert p.next_follow_up_at is None  # the consultant's plan is left as it was
    assert p.pull_events()[1:] == []  # nothing published for an enquiry


def test_enquiries_in_any_order_give_the_same_prospect() -> None:
    h = timedelta(hours=1)
    times = [MON_10 + h, MON_10 + 3 * h, MON_10 + 2 * h]
    seen = set()
    for order in ([0, 1, 2], [2, 1, 0], [1, 0, 2, 1]):
        p = _prospect()
        for i in order:
            p.hear_enquiry(times[i])
        seen.add(p.enquired_at)
    assert seen == {MON_10 + 3 * h}


def test_a_closed_prospect_hears_no_enquiry_and_a_reactivation_only_its_own_spell() -> None:
    h = timedelta(hours=1)
    p = _prospect()
    p.assign("a", MON_10, reason="rule", respond_by=MON_10)
    p.hear_enquiry(MON_10 + h)
    p.lose("a", MON_10 + 2 * h, reason_code="prospect.price", note=None, details=LossDetails())
    assert p.enquired_at is None
    assert not p.hear_enquiry(MON_10 + 3 * h)  # closed: kept as an activity only
    assert p.reactivate(MON_10 + 4 * h, hot=True)
    assert not p.hear_enquiry(MON_10 + 3 * h)  # before the reactivation: not this spell
    assert p.hear_enquiry(MON_10 + 5 * h) and p.enquired_at == MON_10 + 5 * h
    won = _prospect()
    won.assign("a", MON_10, reason="rule", respond_by=MON_10)
    won.win("a", MON_10, vehicle=None, amount=None, currency=None)
    assert not won.hear_enquiry(MON_10 + h)

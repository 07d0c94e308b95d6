"""Attempts and the follow-up cadence: first round, second round, pool; re-enquiries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from crm_queue.domain import AttemptRecorded, Lost, Policy, Refused, Task
from crm_queue.domain.task import channels_refused
from tests.unit.crm_queue.support import ALWAYS, T0, TORONTO_HOURS, attempt, new_task

H, D = timedelta(hours=1), timedelta(days=1)


def test_an_attempt_is_recorded_and_announced() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    attempt_id = uuid4()
    made = task.record_attempt(
        "ann", "call", "no_answer", "  rang 8 times ", T0, ALWAYS, attempt_id
    )
    assert (made.number, made.agent_id, made.channel, made.outcome) == (
        1,
        "ann",
        "call",
        "no_answer",
    )
    assert made.note == "rang 8 times"
    assert made.at == T0
    assert task.attempts == [made]
    [event] = task.events
    assert isinstance(event, AttemptRecorded)
    assert event.attempt_id == attempt_id
    assert event.next_attempt_due_at == T0 + 2 * H


def test_a_retried_attempt_is_recorded_once() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    attempt_id = uuid4()
    first = task.record_attempt("ann", "call", "no_answer", None, T0, ALWAYS, attempt_id)
    again = task.record_attempt("ann", "call", "no_answer", None, T0 + H, ALWAYS, attempt_id)
    assert again is first
    assert len(task.attempts) == 1
    assert len(task.events) == 1


def test_unanswered_attempts_follow_both_rounds_then_the_pool() -> None:
    task = new_task()
    now = T0
    expected = [
        (2 * H, 1),
        (D, 1),
        (D, 1),
        (D, 1),
        (2 * D, 1),  # the first round's five gaps: six attempts over five days
        (7 * D, 2),
        (7 * D, 2),  # the second round
    ]
    for number, (gap, round_) in enumerate(expected, start=1):
        attempt(task, now, "voicemail" if number % 2 else "no_answer")
        assert task.next_attempt_due_at == now + gap, number
        assert (task.state, task.round) == ("open", round_)
        now = task.next_attempt_due_at
    attempt(task, now)
    assert task.state == "pool"
    assert task.next_attempt_due_at is None
    assert len(task.attempts) == 8
    last = task.events[-1]
    assert isinstance(last, AttemptRecorded)
    assert last.next_attempt_due_at is None


def test_a_follow_up_lands_inside_opening_hours() -> None:
    policy = Policy(hours=TORONTO_HOURS)
    friday_five_pm = datetime(2026, 3, 13, 21, 0, tzinfo=UTC)  # 17:00 EDT
    task = new_task(policy, friday_five_pm)
    attempt(task, friday_five_pm, policy=policy)
    # Two hours later the dealership is closed: the call moves to Saturday 09:00.
    assert task.next_attempt_due_at == datetime(2026, 3, 14, 13, 0, tzinfo=UTC)


def test_without_a_second_round_the_first_round_leads_to_the_pool() -> None:
    policy = Policy(
        hours=ALWAYS.hours, min_attempts=2, min_attempt_days=1, first_round=(H,), second_round=()
    )
    task = new_task(policy)
    attempt(task, T0, policy=policy)
    assert task.next_attempt_due_at == T0 + H
    attempt(task, T0 + H, policy=policy)
    assert task.state == "pool"


def test_reaching_the_customer_stops_the_cadence_until_an_agent_decides() -> None:
    task = new_task()
    attempt(task, T0)
    attempt(task, T0 + 2 * H, "reached")
    assert task.next_attempt_due_at is None
    assert task.state == "open"
    # "Call me back later" and no answer then: the cadence carries on where it was.
    attempt(task, T0 + 3 * H)
    assert task.next_attempt_due_at == T0 + 3 * H + D


def test_a_wrong_number_blocks_the_phone_channels_but_the_cadence_goes_on() -> None:
    task = new_task()
    attempt(task, T0, "wrong_number", "whatsapp")
    assert task.unusable_channels == {"call", "sms", "whatsapp"}
    assert task.usable_channels() == ("email",)
    assert task.next_attempt_due_at == T0 + 2 * H
    assert task.state == "open"


def test_with_no_usable_channel_nothing_is_scheduled() -> None:
    task = new_task()
    attempt(task, T0, "bounced", "email")
    assert task.unusable_channels == {"email"}
    assert task.next_attempt_due_at == T0 + 2 * H
    attempt(task, T0 + 2 * H, "wrong_number", "call")
    assert task.usable_channels() == ()
    assert task.next_attempt_due_at is None
    assert task.state == "open"  # waiting for an agent to lose it (invalid.personal_data)


def test_a_pool_task_stays_in_the_pool_unless_reached() -> None:
    task = _pooled()
    attempt(task, T0 + 60 * D)
    assert (task.state, task.next_attempt_due_at) == ("pool", None)
    attempt(task, T0 + 61 * D, "reached")
    assert task.state == "open"


def test_unknown_channel_or_outcome_is_refused() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    with pytest.raises(Refused) as excinfo:
        task.record_attempt("ann", "fax", "no_answer", None, T0, ALWAYS, uuid4())  # type: ignore[arg-type]
    assert excinfo.value.rule == "attempt.channel_unknown"
    with pytest.raises(Refused) as excinfo:
        task.record_attempt("ann", "call", "busy", None, T0, ALWAYS, uuid4())  # type: ignore[arg-type]
    assert excinfo.value.rule == "attempt.outcome_unknown"
    assert task.attempts == []


def test_attempts_on_a_closed_task_are_refused() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    task.lose("ann", "pollution.test", None, T0, ALWAYS)
    with pytest.raises(Refused) as excinfo:
        task.record_attempt("ann", "call", "no_answer", None, T0, ALWAYS, uuid4(), as_manager=True)
    assert excinfo.value.rule == "task.closed"


def test_do_not_contact_refuses_attempts_and_qualifying_even_for_managers() -> None:
    task = new_task()
    attempt(task, T0)
    assert task.mark_do_not_contact() is True
    assert task.mark_do_not_contact() is False
    assert task.next_attempt_due_at is None
    with pytest.raises(Refused) as excinfo:
        task.record_attempt("ann", "email", "no_answer", None, T0, ALWAYS, uuid4(), as_manager=True)
    assert excinfo.value.rule == "contact.do_not_contact"
    with pytest.raises(Refused) as excinfo:
        task.qualify("ann", "appointment.showroom", None, None, T0, as_manager=True)
    assert excinfo.value.rule == "contact.do_not_contact"
    task.lose("ann", "no_interest.do_not_contact", None, T0, ALWAYS)  # closing still works
    assert task.state == "lost"


# -- the customer asked again (lead.duplicate) --------------------------------------------------


def _pooled() -> Task:
    task = new_task()
    now = T0
    while task.state == "open":
        attempt(task, now)
        now = task.next_attempt_due_at or now
    return task


def test_a_re_enquiry_brings_a_pool_task_back_for_a_call_now() -> None:
    task = _pooled()
    asked = T0 + 90 * D
    assert task.raise_priority(asked) is True
    assert (task.state, task.next_attempt_due_at, task.round) == ("open", asked, 3)
    assert (task.enquiries, task.last_enquiry_at) == (2, asked)
    # Unanswered again: a new round on the second round's gaps, then the pool again.
    attempt(task, asked + H)
    assert task.next_attempt_due_at == asked + H + 7 * D
    attempt(task, asked + H + 7 * D)
    attempt(task, asked + H + 14 * D)
    assert task.state == "pool"


def test_a_re_enquiry_on_a_follow_up_makes_it_due_now() -> None:
    task = new_task()
    attempt(task, T0)
    assert task.raise_priority(T0 + H) is True
    assert task.next_attempt_due_at == T0 + H  # was T0 + 2h
    task.raise_priority(T0 + 90 * timedelta(minutes=1))  # a later enquiry never delays the call
    assert task.next_attempt_due_at == T0 + H


def test_a_re_enquiry_before_first_contact_keeps_the_sla() -> None:
    task = new_task()
    due = task.sla_due_at
    assert task.raise_priority(T0 + timedelta(minutes=5)) is True
    assert (task.sla_due_at, task.next_attempt_due_at, task.enquiries) == (due, None, 2)


def test_an_enquiry_older_than_the_last_attempt_is_only_counted() -> None:
    task = _pooled()
    last = task.attempts[-1].at
    assert task.raise_priority(last - H) is True
    assert (task.state, task.enquiries) == ("pool", 2)
    assert task.last_enquiry_at == last - H


def test_the_last_enquiry_never_moves_back() -> None:
    task = new_task()
    task.raise_priority(T0 - D)  # delivered late, sent before the lead itself
    assert (task.last_enquiry_at, task.enquiries) == (T0, 2)


def test_a_re_enquiry_on_a_closed_task_changes_nothing() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    task.qualify("ann", "quotation.requested", None, None, T0)
    assert task.raise_priority(T0 + H) is False
    assert (task.enquiries, task.last_enquiry_at, task.state) == (1, T0, "qualified")


def test_a_re_enquiry_made_before_the_close_but_delivered_after_it_is_counted() -> None:
    # In order it would have been counted before the close: arrival order must not matter
    # (found by the chaos harness: the agent qualified the task while lead.duplicate queued).
    in_order, late = new_task(), new_task()
    for task in (in_order, late):
        task.claim("ann", T0 + H, ALWAYS)
    in_order.raise_priority(T0 + H / 2)
    for task in (in_order, late):
        task.qualify("ann", "quotation.requested", None, None, T0 + H)
    assert late.raise_priority(T0 + H / 2) is True
    assert (late.enquiries, late.last_enquiry_at, late.state) == (2, T0 + H / 2, "qualified")
    assert (late.enquiries, late.last_enquiry_at) == (in_order.enquiries, in_order.last_enquiry_at)


# -- consent -----------------------------------------------------------------------------------


def test_consent_flags_map_to_channels() -> None:
    assert channels_refused({"sms": False, "email": None, "phone": True}) == {"sms", "whatsapp"}
    assert channels_refused({"phone": False}) == {"call"}
    assert channels_refused({}) == frozenset()  # not said is not a no


def test_a_channel_without_consent_is_refused_even_for_managers() -> None:
    task = new_task()
    task.no_consent_channels = channels_refused({"sms": False})
    for channel in ("sms", "whatsapp"):
        with pytest.raises(Refused) as excinfo:
            attempt(task, T0, channel=channel)  # type: ignore[arg-type]
        assert excinfo.value.rule == "contact.no_consent"
        with pytest.raises(Refused):
            task.record_attempt(
                "boss", channel, "reached", None, T0, ALWAYS, uuid4(), as_manager=True
            )  # type: ignore[arg-type]
    assert task.attempts == []
    attempt(task, T0, channel="call")
    assert [a.channel for a in task.attempts] == ["call"]
    assert "sms" not in task.usable_channels()


def test_with_one_channel_allowed_one_channel_meets_the_minimum() -> None:
    task = new_task()
    task.no_consent_channels = channels_refused({"sms": False, "phone": False})  # email only
    for offset in (0 * H, 2 * H, 1 * D, 2 * D, 3 * D, 5 * D):
        attempt(task, T0 + offset, channel="email")
    task.claim("ann", T0 + 5 * D, ALWAYS)
    task.lose("ann", "not_reached.max_attempts", None, T0 + 5 * D, ALWAYS)
    assert task.state == "lost"


# -- the pool is not a dead end -------------------------------------------------------------------


def test_the_pool_period_ends_in_an_automatic_loss() -> None:
    task = _pooled()
    entered = task.attempts[-1].at
    assert task.pool_until == entered + 30 * D
    task.pull_events()
    assert task.expire_from_pool(entered + 30 * D - timedelta(seconds=1)) is False
    assert task.expire_from_pool(entered + 30 * D) is True
    assert (task.state, task.outcome, task.closed_by) == (
        "lost",
        "not_reached.max_attempts",
        "crm-queue",
    )
    [event] = task.events
    assert isinstance(event, Lost)
    assert (event.automatic, event.agent_id, event.attempts) == (True, None, 8)
    assert event.reason_code == "not_reached.max_attempts"
    assert task.expire_from_pool(entered + 40 * D) is False  # once


def test_a_lead_taken_out_of_the_pool_is_not_closed() -> None:
    reached, asked = _pooled(), _pooled()
    attempt(reached, reached.attempts[-1].at + D, "reached")
    asked.raise_priority(asked.attempts[-1].at + D)
    for task in (reached, asked):
        assert (task.state, task.pool_until) == ("open", None)
        assert task.expire_from_pool(T0 + 365 * D) is False


def test_the_pool_period_is_the_dealerships() -> None:
    policy = Policy(hours=ALWAYS.hours, pool_period=7 * D)
    task = new_task(policy)
    now = T0
    while task.state == "open":
        attempt(task, now, policy=policy)
        now = task.next_attempt_due_at or now
    assert task.pool_until == task.attempts[-1].at + 7 * D
    assert Policy.from_json({**policy.to_json(), "pool_period": "P7D"}) == policy

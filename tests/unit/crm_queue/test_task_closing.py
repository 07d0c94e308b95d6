"""How a task ends: qualified (a prospect) or lost (a reason code), and the persistence rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from crm_queue.domain import Lost, OpeningHours, Policy, Qualified, Refused
from crm_queue.domain.task import Task
from shared.contracts.common import Channel
from shared.contracts.lost_reasons import LostReasonCategory, LostReasonCode, QualifyingOutcome
from tests.unit.crm_queue.support import ALWAYS, T0, attempt, new_task

H, D = timedelta(hours=1), timedelta(days=1)
SOON = timedelta(minutes=5)  # within the lease
NOT_REACHED = "not_reached.max_attempts"


def claimed(now: datetime = T0) -> Task:
    task = new_task()
    task.claim("ann", now, ALWAYS)
    return task


def test_qualifying_closes_the_task_and_announces_a_prospect() -> None:
    task = new_task()
    attempt(task, T0, "reached")
    visit = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
    task.qualify("ann", "appointment.test_drive", " Golf GTI ", visit, T0 + SOON)
    assert (task.state, task.outcome, task.closed_at, task.closed_by) == (
        "qualified",
        "appointment.test_drive",
        T0 + SOON,
        "ann",
    )
    assert task.next_attempt_due_at is None
    event = task.events[-1]
    assert isinstance(event, Qualified)
    assert event.outcome is QualifyingOutcome.APPOINTMENT_TEST_DRIVE
    assert (event.details, event.appointment_at, event.attempts) == ("Golf GTI", visit, 1)
    assert event.qualified_at == T0 + SOON


def test_an_unknown_qualifying_outcome_is_refused() -> None:
    task = claimed()
    with pytest.raises(Refused) as excinfo:
        task.qualify("ann", "appointment.coffee", None, None, T0)
    assert excinfo.value.rule == "outcome.unknown"
    assert task.state == "open"


def test_closed_tasks_refuse_closing_again() -> None:
    task = claimed()
    task.qualify("ann", "quotation.requested", None, None, T0)
    commands: list[Callable[[], None]] = [
        lambda: task.qualify("ann", "quotation.requested", None, None, T0, as_manager=True),
        lambda: task.lose("ann", "pollution.test", None, T0, ALWAYS, as_manager=True),
    ]
    for command in commands:
        with pytest.raises(Refused) as excinfo:
            command()
        assert excinfo.value.rule == "task.closed"
    assert len(task.events) == 1


def test_losing_closes_the_task_with_code_and_category() -> None:
    task = new_task()
    attempt(task, T0, "reached")
    task.lose("ann", "no_interest.bought_other_car", "bought a Tesla", T0 + SOON, ALWAYS)
    assert (task.state, task.outcome) == ("lost", "no_interest.bought_other_car")
    event = task.events[-1]
    assert isinstance(event, Lost)
    assert event.reason_code is LostReasonCode.NO_INTEREST_BOUGHT_OTHER_CAR
    assert event.category is LostReasonCategory.NO_INTEREST
    assert (event.note, event.attempts, event.lost_at) == ("bought a Tesla", 1, T0 + SOON)
    assert event.do_not_contact is False


def test_do_not_contact_is_marked_by_its_reason() -> None:
    task = new_task()
    attempt(task, T0, "reached")
    task.lose("ann", "no_interest.do_not_contact", None, T0, ALWAYS)
    assert task.do_not_contact is True
    event = task.events[-1]
    assert isinstance(event, Lost)
    assert event.do_not_contact is True


@pytest.mark.parametrize(
    ("code", "note", "rule"),
    [
        ("no_interest.weather", None, "reason.unknown"),
        ("pollution", None, "reason.unknown"),
        (None, "customer was rude", "reason.note_without_code"),
        ("", "customer was rude", "reason.note_without_code"),
        (None, None, "reason.required"),
        (None, "   ", "reason.required"),
    ],
)
def test_losing_needs_a_code_from_the_closed_list(
    code: str | None, note: str | None, rule: str
) -> None:
    task = claimed()
    with pytest.raises(Refused) as excinfo:
        task.lose("ann", code, note, T0, ALWAYS)
    assert excinfo.value.rule == rule
    assert task.state == "open"


# -- persistence --------------------------------------------------------------------------------


def attempts_at(task: Task, times: list[timedelta], channels: list[Channel]) -> datetime:
    """Attempts at T0 + each offset (the agent may call earlier than the cadence suggests)."""
    for offset, channel in zip(times, channels, strict=True):
        attempt(task, T0 + offset, channel=channel)
    return T0 + times[-1]


def refusal(task: Task, now: datetime, policy: Policy = ALWAYS) -> Refused:
    task.claim("ann", now, policy)
    with pytest.raises(Refused) as excinfo:
        task.lose("ann", NOT_REACHED, None, now, policy)
    assert task.state == "open"
    return excinfo.value


def test_not_reached_needs_the_minimum_attempts() -> None:
    task = new_task()
    now = attempts_at(task, [0 * H, 2 * H, 25 * H], ["call", "email", "call"])
    refused = refusal(task, now)
    assert refused.rule == "persistence.min_attempts"
    assert refused.message == (
        "needs 6 attempts on 3 different days spanning 5 days, on 2 channels; "
        "made 3 attempts on 2 different days spanning 1 day, on 2 channels"
    )
    # Managers are held to the dealership's rule too.
    with pytest.raises(Refused, match=r"persistence\.min_attempts"):
        task.lose("boss", NOT_REACHED, None, now, ALWAYS, as_manager=True)


def test_six_calls_in_half_an_hour_are_one_day_however_late_the_write_off() -> None:
    task = new_task()
    attempts_at(task, [k * 5 * timedelta(minutes=1) for k in range(6)], ["call", "sms"] * 3)
    refused = refusal(task, T0 + 5 * D)
    assert refused.rule == "persistence.min_attempt_days"
    assert "made 6 attempts on 1 different day spanning 0 days, on 2 channels" in refused.message


def test_not_reached_needs_attempts_spread_over_the_minimum_span() -> None:
    task = new_task()
    # Four days in a row: different days enough, but the last is only 3 days after the first.
    now = attempts_at(task, [0 * H, 1 * H, 1 * D, 2 * D, 3 * D, 3 * D + H], ["call", "sms"] * 3)
    assert refusal(task, now + 5 * D).rule == "persistence.min_days"


def test_days_are_the_dealerships_local_days() -> None:
    # Monday 22:30 and 23:30 UTC are Monday 23:30 and Tuesday 00:30 in Berlin: one day in UTC,
    # two in Berlin. Then four attempts on Saturday afternoon: 2 days in UTC, 3 in Berlin.
    berlin = Policy(hours=OpeningHours.always_open("Europe/Berlin"))
    late = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)
    task = new_task(berlin, late)
    offsets = [0 * H, 1 * H, 5 * D - 10 * H, 5 * D - 9 * H, 5 * D - 8 * H, 5 * D - 7 * H]
    for offset, channel in zip(offsets, ["call", "sms"] * 3, strict=True):
        attempt(task, late + offset, channel=channel, policy=berlin)  # type: ignore[arg-type]
    task.claim("ann", late + 6 * D, berlin)
    task.lose("ann", NOT_REACHED, None, late + 6 * D, berlin)
    assert task.state == "lost"
    utc_task = new_task(ALWAYS, late)
    for offset, channel in zip(offsets, ["call", "sms"] * 3, strict=True):
        attempt(utc_task, late + offset, channel=channel)  # type: ignore[arg-type]
    assert refusal(utc_task, late + 6 * D).rule == "persistence.min_attempt_days"


def test_not_reached_needs_mixed_channels() -> None:
    task = new_task()
    attempts_at(task, [0 * H, 2 * H, 1 * D, 2 * D, 3 * D, 5 * D], ["call"] * 6)
    refused = refusal(task, T0 + 5 * D)
    assert refused.rule == "persistence.min_channels"
    assert "on 1 channel" in refused.message


def test_not_reached_is_accepted_once_the_dealership_minimum_is_met() -> None:
    task = new_task()
    now = attempts_at(
        task,
        [0 * H, 2 * H, 1 * D, 2 * D, 3 * D, 5 * D],
        ["call", "sms", "call", "call", "email", "call"],
    )
    task.lose("ann", NOT_REACHED, "six tries, three channels", now, ALWAYS)
    event = task.events[-1]
    assert isinstance(event, Lost)
    assert (event.category, event.attempts) == (LostReasonCategory.NOT_REACHED, 6)


def test_the_dealership_sets_its_own_minimum() -> None:
    policy = Policy(
        hours=ALWAYS.hours, min_attempts=2, min_attempt_days=1, min_days=0, min_channels=1
    )
    task = new_task(policy)
    attempt(task, T0, policy=policy)
    assert refusal(task, T0, policy).rule == "persistence.min_attempts"
    attempt(task, T0 + H, policy=policy)
    task.lose("ann", NOT_REACHED, None, T0 + H, policy)
    assert task.state == "lost"


def test_other_codes_need_no_persistence() -> None:
    task = claimed()
    task.lose("ann", "pollution.no_phone", None, T0, ALWAYS)
    assert task.outcome == "pollution.no_phone"


# -- codes a lead in first contact can be lost with ------------------------------------------------


@pytest.mark.parametrize("code", ["prospect.price", "prospect.postponed"])
def test_prospect_codes_are_not_for_leads(code: str) -> None:
    task = new_task()
    attempt(task, T0, "reached")
    with pytest.raises(Refused) as excinfo:
        task.lose("ann", code, None, T0, ALWAYS, as_manager=True)
    assert excinfo.value.rule == "reason.not_for_leads"
    assert task.state == "open"


@pytest.mark.parametrize(
    "code",
    [
        "not_reached.refused_call",
        *(c.value for c in LostReasonCode if c.value.startswith("no_interest.")),
        "bought_elsewhere.same_brand",
        "bought_elsewhere.other_brand",
    ],
)
def test_what_only_the_customer_can_say_needs_an_attempt_that_reached_them(code: str) -> None:
    task = new_task()
    for outcome in ("no_answer", "voicemail", "wrong_number"):
        attempt(task, T0, outcome)  # type: ignore[arg-type]
    task.claim("ann", T0, ALWAYS)
    with pytest.raises(Refused) as excinfo:
        task.lose("ann", code, None, T0, ALWAYS, as_manager=True)
    assert excinfo.value.rule == "reason.needs_contact"
    assert code in excinfo.value.message


def test_refused_call_needs_the_reach_and_the_persistence_minimum() -> None:
    task = new_task()
    attempt(task, T0, "reached")
    assert refusal_for(task, "not_reached.refused_call", T0).rule == "persistence.min_attempts"
    now = attempts_at(task, [1 * D, 2 * D, 3 * D, 4 * D, 5 * D], ["sms", *["call"] * 4])
    task.claim("ann", now, ALWAYS)
    task.lose("ann", "not_reached.refused_call", None, now, ALWAYS)
    assert task.outcome == "not_reached.refused_call"


def test_no_interest_after_reaching_the_customer_is_accepted() -> None:
    task = new_task()
    attempt(task, T0, "no_answer")
    attempt(task, T0 + H, "reached", "sms")
    task.lose("ann", "no_interest.other_car", None, T0 + H, ALWAYS)
    assert task.state == "lost"


def refusal_for(task: Task, code: str, now: datetime) -> Refused:
    task.claim("ann", now, ALWAYS)
    with pytest.raises(Refused) as excinfo:
        task.lose("ann", code, None, now, ALWAYS)
    return excinfo.value


# -- qualifying ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("appointment_at", "rule"),
    [
        (None, "appointment.required"),
        (T0 - H, "appointment.not_in_future"),
        (T0, "appointment.not_in_future"),
    ],
)
def test_an_appointment_is_booked_for_a_time_to_come(
    appointment_at: datetime | None, rule: str
) -> None:
    task = claimed()
    for outcome in ("appointment.showroom", "appointment.test_drive"):
        with pytest.raises(Refused) as excinfo:
            task.qualify("ann", outcome, None, appointment_at, T0)
        assert excinfo.value.rule == rule
    assert (task.state, task.events) == ("open", [])
    task.qualify("ann", "quotation.requested", None, None, T0)  # no appointment needed
    assert task.state == "qualified"


def test_hot_goes_with_the_prospect() -> None:
    task = claimed()
    task.qualify("ann", "appointment.test_drive", None, T0 + D, T0, hot=True)
    event = task.events[-1]
    assert isinstance(event, Qualified)
    assert event.hot is True
    cold = claimed()
    cold.qualify("ann", "quotation.requested", None, None, T0)
    assert isinstance(cold.events[-1], Qualified)
    assert cold.events[-1].hot is False

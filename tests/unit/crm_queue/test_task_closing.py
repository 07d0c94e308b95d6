"""How a task ends: qualified (a prospect) or lost (a reason code), and the persistence rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from crm_queue.domain import Lost, Policy, Qualified, Refused
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
    task = claimed()
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
        "needs 6 attempts over 5 days on 2 channels; made 3 attempts over 1 day on 2 channels"
    )
    # Managers are held to the dealership's rule too.
    with pytest.raises(Refused, match=r"persistence\.min_attempts"):
        task.lose("boss", NOT_REACHED, None, now, ALWAYS, as_manager=True)


def test_not_reached_needs_the_minimum_days_since_the_first_attempt() -> None:
    task = new_task()
    now = attempts_at(task, [k * H for k in range(6)], ["call", "email"] * 3)
    assert refusal(task, now).rule == "persistence.min_days"
    assert refusal(task, T0 + 5 * D - timedelta(seconds=1)).rule == "persistence.min_days"


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
    policy = Policy(hours=ALWAYS.hours, min_attempts=2, min_days=0, min_channels=1)
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

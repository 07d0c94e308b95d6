"""Speed to lead: the SLA due time, the breach published once, overdue work, queue order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from crm_queue.domain import Policy, SlaBreached, Task
from tests.unit.crm_queue.support import ALWAYS, LEAD_ID, T0, TORONTO_HOURS, attempt, new_task

M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def test_a_new_task_is_due_after_the_sla() -> None:
    task = new_task()
    assert (task.state, task.sla_due_at, task.enquiries, task.last_enquiry_at) == (
        "open",
        T0 + 15 * M,
        1,
        T0,
    )
    assert task.sequence == 0
    assert task.events == []


def test_the_sla_counts_opening_hours_in_the_dealership_zone() -> None:
    policy = Policy(hours=TORONTO_HOURS, sla=timedelta(minutes=30))
    night = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)  # Tuesday 23:00 EDT
    task = new_task(policy, night)
    assert task.sla_due_at == datetime(2026, 3, 11, 12, 30, tzinfo=UTC)  # Wednesday 08:30 EDT


def test_a_replayed_lead_is_due_from_when_it_was_received() -> None:
    task = Task.open(LEAD_ID, "t", "d", T0, ALWAYS, now=T0 + 30 * D)
    assert task.sla_due_at == T0 + 15 * M
    assert task.created_at == T0 + 30 * D
    assert task.breach_sla(T0 + 30 * D) is True


def test_the_breach_is_published_once_and_escalated() -> None:
    task = new_task()
    assert task.breach_sla(T0 + 14 * M) is False
    assert task.breach_sla(T0 + 15 * M) is True
    assert task.breach_sla(T0 + 16 * M) is False
    assert (task.sla_breached_at, task.escalated_at) == (T0 + 15 * M, T0 + 15 * M)
    [event] = task.events
    assert isinstance(event, SlaBreached)
    assert (event.task_id, event.due_at, event.breached_at) == (
        task.task_id,
        T0 + 15 * M,
        T0 + 15 * M,
    )
    assert event.escalated_to_role == "manager"


def test_no_breach_once_the_first_attempt_was_made() -> None:
    task = new_task()
    attempt(task, T0 + 10 * M)
    assert task.breach_sla(T0 + 20 * M) is False
    assert task.sla_breached_at is None
    assert len(task.events) == 1  # the attempt only


def test_no_breach_on_a_closed_or_do_not_contact_task() -> None:
    closed = new_task()
    closed.claim("ann", T0, ALWAYS)
    closed.lose("ann", "pollution.test", None, T0, ALWAYS)
    assert closed.breach_sla(T0 + H) is False
    blocked = new_task()
    blocked.mark_do_not_contact()
    assert blocked.breach_sla(T0 + H) is False


def test_overdue_first_contact_and_follow_up() -> None:
    task = new_task()
    assert not task.is_overdue(T0 + 14 * M)
    assert task.is_overdue(T0 + 15 * M)
    attempt(task, T0 + 20 * M)
    assert not task.is_overdue(T0 + 30 * M)  # the next call is due two hours later
    assert task.is_overdue(T0 + 20 * M + 2 * H)
    attempt(task, T0 + 3 * H, "reached")
    assert not task.is_overdue(T0 + 10 * D)  # nothing scheduled: the agent decides


def test_the_pool_is_never_overdue() -> None:
    policy = Policy(
        hours=ALWAYS.hours, min_attempts=1, min_attempt_days=1, first_round=(), second_round=()
    )
    task = new_task(policy)
    attempt(task, T0, policy=policy)
    assert task.state == "pool"
    assert not task.is_overdue(T0 + 100 * D)


def _lead(n: int) -> UUID:
    return UUID(int=n)


def _task(n: int, received_at: datetime) -> Task:
    return Task.open(_lead(n), "t", "d", received_at, ALWAYS, received_at)


def test_queue_order() -> None:
    now = T0 + 3 * H
    new_early = _task(1, T0 + 2 * H)  # due +2h15
    new_late = _task(2, T0 + 2 * H + 30 * M)  # due +2h45
    follow_up_due = _task(3, T0)
    attempt(follow_up_due, T0)  # next at +2h: due now
    follow_up_later = _task(4, T0)
    attempt(follow_up_later, T0 + 2 * H)  # next at +4h
    asked_again = _task(5, T0)
    attempt(asked_again, T0)
    asked_again.raise_priority(T0 + 2 * H + 40 * M)  # waiting on us; its call was due at +2h
    reached = _task(6, T0)
    attempt(reached, T0, "reached")
    pooled = _task(7, T0)
    pooled.state = "pool"
    closed = _task(8, T0)
    closed.claim("ann", T0, ALWAYS)
    closed.lose("ann", "pollution.test", None, T0, ALWAYS)
    tasks = [closed, pooled, reached, follow_up_later, follow_up_due, asked_again, new_late]
    tasks.append(new_early)
    ordered = sorted(tasks, key=lambda t: t.urgency_key(now))
    # Customers waiting on us by due time, then due follow-ups, later ones, unscheduled, pool,
    # closed.
    assert [t.lead_id.int for t in ordered] == [5, 1, 2, 3, 4, 6, 7, 8]


def test_queue_ties_go_to_the_freshest_enquiry() -> None:
    now = T0 + H
    stale, fresh = _task(1, T0), _task(2, T0)
    fresh.raise_priority(T0 + 30 * M)  # no attempt yet: keeps its SLA due time, fresher interest
    assert stale.sla_due_at == fresh.sla_due_at
    ordered = sorted([stale, fresh], key=lambda t: t.urgency_key(now))
    assert [t.lead_id.int for t in ordered] == [2, 1]

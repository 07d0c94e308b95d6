"""Automatic replies (an auto-response sent by a system) are recorded apart from people's
attempts, and the dealership's persistence minimum travels in lead.lost (issue 15: speed to
lead counts human contact only; losses below the minimum are counted by metrics)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from crm_queue.domain import AttemptRecorded, Lost, Policy, Refused, Task
from tests.unit.crm_queue.support import ALWAYS, T0, attempt, new_task

M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def _auto_reply(task: Task, now: datetime) -> None:
    """What an auto-responder does: claim, record its reply as automatic, let go."""
    task.claim("autoresponder", now, ALWAYS)
    task.record_attempt(
        "autoresponder", "email", "no_answer", None, now, ALWAYS, uuid4(), automatic=True
    )
    task.release("autoresponder", now)


def test_an_automatic_reply_is_announced_as_such() -> None:
    task = new_task()
    _auto_reply(task, T0 + M)
    [event] = [e for e in task.events if isinstance(e, AttemptRecorded)]
    assert (event.automatic, event.attempt_number, event.channel) == (True, 1, "email")
    assert event.payload()["automatic"] is True
    assert task.attempts[0].automatic is True


def test_a_persons_attempt_is_not_automatic() -> None:
    task = new_task()
    attempt(task, T0 + M)
    [event] = [e for e in task.events if isinstance(e, AttemptRecorded)]
    assert event.automatic is False


def test_an_automatic_reply_does_not_stop_the_sla() -> None:
    task = new_task()
    _auto_reply(task, T0 + M)
    assert task.awaits_first_contact
    assert task.due_at() == T0 + 15 * M
    assert task.breach_sla(T0 + 15 * M) is True


def test_an_automatic_reply_counts_toward_no_persistence_minimum() -> None:
    policy = Policy(
        hours=ALWAYS.hours, min_attempts=2, min_attempt_days=1, min_days=0, min_channels=1
    )
    task = new_task(policy)
    _auto_reply(task, T0)
    attempt(task, T0 + H, policy=policy)
    with pytest.raises(Refused) as refused:
        task.lose("ann", "not_reached.max_attempts", None, T0 + H, policy)
    assert refused.value.rule == "persistence.min_attempts"
    attempt(task, T0 + 2 * H, policy=policy)
    task.lose("ann", "not_reached.max_attempts", None, T0 + 2 * H, policy)
    lost = task.events[-1]
    assert isinstance(lost, Lost)
    assert lost.attempts == 2  # people's attempts, the automatic reply left out


def test_lead_lost_carries_the_dealerships_minimum() -> None:
    policy = Policy(
        hours=ALWAYS.hours, min_attempts=3, min_attempt_days=1, min_days=0, min_channels=1
    )
    task = new_task(policy)
    attempt(task, T0, "reached", policy=policy)
    task.lose("ann", "no_interest.other_car", None, T0 + M, policy)
    lost = task.events[-1]
    assert isinstance(lost, Lost)
    assert (lost.min_attempts, lost.attempts) == (3, 1)
    assert lost.payload()["min_attempts"] == 3


def test_the_automatic_loss_carries_the_minimum_it_is_given() -> None:
    task = new_task()
    for n in range(8):
        attempt(task, T0 + n * D, channel="call" if n % 2 else "email")
    assert task.state == "pool"
    task.pull_events()
    assert task.pool_until is not None
    assert task.expire_from_pool(task.pool_until, min_attempts=6) is True
    [lost] = task.events
    assert isinstance(lost, Lost)
    assert (lost.automatic, lost.min_attempts) == (True, 6)

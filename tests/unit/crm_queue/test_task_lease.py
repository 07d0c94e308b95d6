"""Leases: two agents never work the same lead at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from crm_queue.domain import Refused
from tests.unit.crm_queue.support import ALWAYS, T0, new_task

LATER = T0 + timedelta(minutes=1)


def test_claim_leases_the_task_for_the_policy_lease() -> None:
    task = new_task()
    assert task.claim("ann", T0, ALWAYS) == T0 + ALWAYS.lease
    assert (task.leased_by, task.lease_until) == ("ann", T0 + ALWAYS.lease)
    assert task.lease_holder(T0) == "ann"


def test_a_second_agent_is_refused_while_the_lease_runs() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    with pytest.raises(Refused) as excinfo:
        task.claim("bob", LATER, ALWAYS)
    assert excinfo.value.rule == "lease.held_by_other"
    assert "ann" in excinfo.value.message
    assert task.leased_by == "ann"


def test_the_holder_renews_its_lease() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    assert task.claim("ann", LATER, ALWAYS) == LATER + ALWAYS.lease


def test_an_expired_lease_can_be_taken_over() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    expiry = T0 + ALWAYS.lease
    assert task.lease_holder(expiry) is None
    task.claim("bob", expiry, ALWAYS)
    assert task.leased_by == "bob"
    # Ann's lease is gone: her late attempt is refused, naming who holds the task now.
    with pytest.raises(Refused) as excinfo:
        task.record_attempt("ann", "call", "no_answer", None, expiry, ALWAYS, uuid4())
    assert excinfo.value.rule == "lease.held_by_other"


def test_working_without_a_lease_is_refused() -> None:
    task = new_task()
    with pytest.raises(Refused) as excinfo:
        task.record_attempt("ann", "call", "no_answer", None, T0, ALWAYS, uuid4())
    assert excinfo.value.rule == "lease.required"
    task.claim("ann", T0, ALWAYS)
    with pytest.raises(Refused) as excinfo:
        task.record_attempt("ann", "call", "no_answer", None, T0 + ALWAYS.lease, ALWAYS, uuid4())
    assert excinfo.value.rule == "lease.required"  # lapsed
    commands: list[Callable[[], None]] = [
        lambda: task.qualify("ann", "quotation.requested", None, None, T0),
        lambda: task.lose("ann", "pollution.test", None, T0, ALWAYS),
    ]
    for command in commands:
        task.release("ann", T0)
        with pytest.raises(Refused) as excinfo:
            command()
        assert excinfo.value.rule == "lease.required"
    assert task.attempts == []
    assert task.state == "open"


def test_a_manager_acts_without_a_lease_even_over_an_agent() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    task.record_attempt("boss", "call", "no_answer", None, T0, ALWAYS, uuid4(), as_manager=True)
    task.lose("boss", "pollution.test", None, LATER, ALWAYS, as_manager=True)
    assert task.state == "lost"
    assert task.closed_by == "boss"


def test_release_lets_another_agent_claim() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    with pytest.raises(Refused) as excinfo:
        task.release("bob", LATER)
    assert excinfo.value.rule == "lease.held_by_other"
    assert task.release("ann", LATER) is True
    assert task.leased_by is None
    task.claim("bob", LATER, ALWAYS)
    assert task.leased_by == "bob"


def test_releasing_a_lapsed_lease_reports_it() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    assert task.release("ann", T0 + timedelta(hours=1)) is False
    assert task.leased_by is None
    assert task.release("bob", T0) is False


def test_closing_drops_the_lease_and_a_closed_task_cannot_be_claimed() -> None:
    task = new_task()
    task.claim("ann", T0, ALWAYS)
    task.qualify("ann", "quotation.requested", None, None, T0)
    assert task.leased_by is None
    with pytest.raises(Refused) as excinfo:
        task.claim("bob", LATER, ALWAYS)
    assert excinfo.value.rule == "task.closed"

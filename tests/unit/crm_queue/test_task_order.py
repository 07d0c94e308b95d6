"""Events of one lead in any order: a lead.duplicate that overtakes its lead.ingested."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from crm_queue.domain import Policy, Task
from tests.unit.crm_queue.support import LEAD_ID, TORONTO_HOURS

M = timedelta(minutes=1)
POLICY = Policy(hours=TORONTO_HOURS)
RECEIVED = datetime(2026, 3, 10, 16, 50, tzinfo=UTC)  # Tuesday 12:50 EDT, in the lunch break
REPEAT = RECEIVED + 40 * M  # asked again at 13:30 EDT
NOW = RECEIVED + 45 * M


def test_the_lead_after_its_duplicate_gives_the_in_order_task() -> None:
    task_id = uuid4()
    in_order = Task.open(LEAD_ID, "t", "d", RECEIVED, POLICY, NOW, task_id)
    assert in_order.raise_priority(REPEAT) is True

    reversed_ = Task.open(LEAD_ID, "t", "d", REPEAT, POLICY, NOW, task_id, ingested=False)
    assert reversed_.sla_due_at == datetime(2026, 3, 10, 17, 45, tzinfo=UTC)  # provisional
    assert reversed_.learn_lead(RECEIVED, POLICY) is True

    assert dataclasses.asdict(reversed_) == dataclasses.asdict(in_order)
    # The SLA counts from the first enquiry (13:00 opening + 15 min), and both are counted.
    assert reversed_.sla_due_at == datetime(2026, 3, 10, 17, 15, tzinfo=UTC)
    assert (reversed_.received_at, reversed_.last_enquiry_at) == (RECEIVED, REPEAT)
    assert reversed_.enquiries == 2


def test_a_redelivered_lead_changes_nothing() -> None:
    task = Task.open(LEAD_ID, "t", "d", RECEIVED, POLICY, NOW)
    before = dataclasses.asdict(task)
    assert task.learn_lead(RECEIVED + M, POLICY) is False
    assert dataclasses.asdict(task) == before


def test_the_leads_source_kind_sets_the_sla_whatever_the_order() -> None:
    """A bought-list lead whose repeat came through a marketplace: 3 business days, not 15 min."""
    task_id = uuid4()
    in_order = Task.open(LEAD_ID, "t", "d", RECEIVED, POLICY, NOW, task_id, source_kind="list")
    in_order.raise_priority(REPEAT)
    reversed_ = Task.open(
        LEAD_ID, "t", "d", REPEAT, POLICY, NOW, task_id, ingested=False, source_kind="marketplace"
    )
    assert reversed_.sla_due_at == REPEAT + 15 * M  # provisional: the repeat's kind
    reversed_.learn_lead(RECEIVED, POLICY, source_kind="list")
    assert dataclasses.asdict(reversed_) == dataclasses.asdict(in_order)
    assert reversed_.sla_due_at == POLICY.sla_due_at(RECEIVED, "list")

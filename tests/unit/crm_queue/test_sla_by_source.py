"""Per-source-kind SLAs: hot sources in minutes of opening time, events and lists in days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_queue.domain import Policy, Task
from crm_queue.domain.sla import BusinessDays
from tests.unit.crm_queue.support import ALWAYS, LEAD_ID, TORONTO_HOURS

M = timedelta(minutes=1)
TORONTO = Policy(hours=TORONTO_HOURS)
FRIDAY_5PM = datetime(2026, 3, 13, 21, 0, tzinfo=UTC)  # 17:00 EDT
SATURDAY_10AM = datetime(2026, 3, 14, 14, 0, tzinfo=UTC)  # 10:00 EDT


@pytest.mark.parametrize("kind", ["website", "chat", "phone", "marketplace", "oem", None])
def test_hot_sources_get_fifteen_minutes_of_opening_time(kind: str | None) -> None:
    assert TORONTO.sla_due_at(FRIDAY_5PM, kind) == FRIDAY_5PM + 15 * M
    assert ALWAYS.sla_due_at(FRIDAY_5PM, kind) == FRIDAY_5PM + 15 * M


def test_an_event_lead_is_due_at_the_close_of_the_next_opening_day() -> None:
    # Saturday's lead: Sunday is closed, so Monday 18:00 EDT.
    assert TORONTO.sla_due_at(SATURDAY_10AM, "event") == datetime(2026, 3, 16, 22, tzinfo=UTC)
    # Always open: the end of the next day.
    assert ALWAYS.sla_due_at(FRIDAY_5PM, "event") == datetime(2026, 3, 15, tzinfo=UTC)


def test_a_bought_list_is_due_after_three_business_days() -> None:
    # Friday 17:00: Saturday (open until 13:00), Monday, Tuesday; due when Tuesday closes.
    due = TORONTO.sla_due_at(FRIDAY_5PM, "list")
    assert due == datetime(2026, 3, 17, 22, tzinfo=UTC)  # 18:00 EDT
    task = Task.open(LEAD_ID, "t", "d", FRIDAY_5PM, TORONTO, FRIDAY_5PM, source_kind="list")
    assert (task.sla_due_at, task.source_kind) == (due, "list")
    assert task.breach_sla(due - M) is False


def test_closed_dates_are_not_business_days() -> None:
    closed = Policy.from_json(
        {"hours": {**TORONTO_HOURS.to_json(), "closed_dates": ["2026-03-16"]}}
    )
    assert closed.sla_due_at(SATURDAY_10AM, "event") == datetime(2026, 3, 17, 22, tzinfo=UTC)


def test_sla_by_source_json() -> None:
    default = Policy.default().to_json()
    assert default["sla_by_source"] == {
        "event": {"business_days": 1},
        "list": {"business_days": 3},
    }
    # Given, it replaces the default mapping whole: what is left out takes `sla`.
    policy = Policy.from_json(
        {
            **default,
            "sla": "PT30M",
            "sla_by_source": {"website": "PT5M", "list": {"business_days": 5}},
        }
    )
    assert policy.sla_by_source == {"website": timedelta(minutes=5), "list": BusinessDays(5)}
    assert policy.sla_due_at(FRIDAY_5PM, "event") == FRIDAY_5PM + 30 * M
    assert Policy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"fax": "PT5M"}, "sla_by_source.fax"),
        ({"list": {"business_days": 0}}, "sla_by_source.list.business_days"),
        ({"list": {"business_days": "3"}}, "sla_by_source.list.business_days"),
        ({"list": {"days": 3}}, "sla_by_source.list"),
        ({"list": "PT0S"}, "sla_by_source.list"),
        ({"list": "3 days"}, "sla_by_source.list"),
        (["list"], "sla_by_source"),
    ],
)
def test_sla_by_source_validation_names_the_field(value: Any, field: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Policy.from_json({**Policy.default().to_json(), "sla_by_source": value})
    assert str(excinfo.value).startswith(f"{field}:"), excinfo.value

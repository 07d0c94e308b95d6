"""Builders shared by the crm-queue domain tests."""

from __future__ import annotations

from datetime import UTC, datetime, time
from uuid import UUID, uuid4

from crm_queue.domain import OpeningHours, Policy, Task
from shared.contracts.common import Channel, ContactOutcome

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
LEAD_ID = UUID("6a4f0c1e-0000-4000-8000-000000000001")
ALWAYS = Policy.default("UTC")

# Mon-Fri 08:00-12:00 and 13:00-18:00 (lunch break), Sat 09:00-13:00, Sunday closed, Christmas.
TORONTO_HOURS = OpeningHours(
    "America/Toronto",
    {
        **{day: ((time(8), time(12)), (time(13), time(18))) for day in range(5)},
        5: ((time(9), time(13)),),
    },
)


def new_task(policy: Policy = ALWAYS, received_at: datetime = T0) -> Task:
    return Task.open(LEAD_ID, "vw-north", "berlin-1", received_at, policy, received_at)


def attempt(
    task: Task,
    now: datetime,
    outcome: ContactOutcome = "no_answer",
    channel: Channel = "call",
    agent: str = "ann",
    policy: Policy = ALWAYS,
) -> None:
    """Claim, then record one attempt, as an agent does."""
    task.claim(agent, now, policy)
    task.record_attempt(agent, channel, outcome, None, now, policy, uuid4())

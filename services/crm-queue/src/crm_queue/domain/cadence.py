"""Persistence: when to try an unanswered lead again, and when "not reached" may be chosen.

Rounds: round 1 is the first call plus one attempt per `policy.first_round` gap; when its gaps
are used up the lead gets round 2, one attempt per `policy.second_round` gap; when that is used
up too the lead goes to the pool (no attempt scheduled). A customer who asks again while in the
pool starts a new round (3, 4, ...) that, like round 2, uses the `second_round` gaps.

A gap is calendar time after the attempt, moved to the next opening moment of the dealership.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_queue.domain.policy import Policy

MIN_ATTEMPTS = "persistence.min_attempts"
MIN_DAYS = "persistence.min_days"
MIN_CHANNELS = "persistence.min_channels"


@dataclass(frozen=True)
class Step:
    """Where the cadence stands after an unanswered attempt; `due_at` None means the pool."""

    round: int
    gaps_used: int
    due_at: datetime | None


def next_step(policy: Policy, round: int, gaps_used: int, now: datetime) -> Step:
    gaps = policy.first_round if round == 1 else policy.second_round
    if gaps_used < len(gaps):
        return Step(round, gaps_used + 1, policy.hours.next_opening(now + gaps[gaps_used]))
    if round == 1 and policy.second_round:
        return Step(2, 1, policy.hours.next_opening(now + policy.second_round[0]))
    return Step(round, gaps_used, None)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def persistence_shortfall(
    policy: Policy, made: int, first_at: datetime | None, channels: int, now: datetime
) -> tuple[str, str] | None:
    """None when "not reached" may be chosen, else (the first unmet rule, a message for people).

    Days are counted from the first attempt to now, so attempts crammed into one afternoon do
    not count as the persistence the dealership asks for.
    """
    span = now - first_at if first_at is not None else timedelta(0)
    message = (
        f"needs {_plural(policy.min_attempts, 'attempt')} over {_plural(policy.min_days, 'day')} "
        f"on {_plural(policy.min_channels, 'channel')}; made {_plural(made, 'attempt')} over "
        f"{_plural(span.days, 'day')} on {_plural(channels, 'channel')}"
    )
    if made < policy.min_attempts:
        return MIN_ATTEMPTS, message
    if span < timedelta(days=policy.min_days):
        return MIN_DAYS, message
    if channels < policy.min_channels:
        return MIN_CHANNELS, message
    return None

"""Persistence: when to try an unanswered lead again, and when "not reached" may be chosen.

Rounds: round 1 is the first call plus one attempt per `policy.first_round` gap; when its gaps
are used up the lead gets round 2, one attempt per `policy.second_round` gap; when that is used
up too the lead goes to the pool (no attempt scheduled). A customer who asks again while in the
pool starts a new round (3, 4, ...) that, like round 2, uses the `second_round` gaps.

A gap is calendar time after the attempt, moved to the next opening moment of the dealership.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crm_queue.domain.policy import Policy

MIN_ATTEMPTS = "persistence.min_attempts"
MIN_ATTEMPT_DAYS = "persistence.min_attempt_days"
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
    policy: Policy,
    attempted_at: Sequence[datetime],
    channels: int,
    *,
    channels_allowed: int | None = None,
) -> tuple[str, str] | None:
    """None when "not reached" may be chosen, else (the first unmet rule, a message for people).

    Measured on how the attempts are spread, in the dealership's local days: six calls in half
    an hour are one day, however long the agent waits before writing the lead off. The attempts
    must fall on `min_attempt_days` different days, and the first and the last must be
    `min_days` days apart. `channels_allowed` (the channels the person may be contacted on)
    lowers the channel minimum when consent rules channels out.
    """
    zone = policy.hours.zone
    days = sorted({at.astimezone(zone).date() for at in attempted_at})
    span = (days[-1] - days[0]).days if days else 0
    need_channels = policy.min_channels
    if channels_allowed is not None:
        need_channels = max(1, min(need_channels, channels_allowed))
    message = (
        f"needs {_plural(policy.min_attempts, 'attempt')} on "
        f"{_plural(policy.min_attempt_days, 'different day')} spanning "
        f"{_plural(policy.min_days, 'day')}, on {_plural(need_channels, 'channel')}; made "
        f"{_plural(len(attempted_at), 'attempt')} on {_plural(len(days), 'different day')} "
        f"spanning {_plural(span, 'day')}, on {_plural(channels, 'channel')}"
    )
    if len(attempted_at) < policy.min_attempts:
        return MIN_ATTEMPTS, message
    if len(days) < policy.min_attempt_days:
        return MIN_ATTEMPT_DAYS, message
    if span < policy.min_days:
        return MIN_DAYS, message
    if channels < need_channels:
        return MIN_CHANNELS, message
    return None

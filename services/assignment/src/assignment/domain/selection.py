"""Picking one consultant among the eligible ones, by the rule's method. Deterministic, so the
same state always gives the same choice (and tests can say which).

- round_robin: whoever was given a prospect longest ago (never first), then pool order.
- least_loaded: fewest open prospects, then round robin.
- close_rate: prospects handed out in proportion to each one's recent close rate: the lowest
  (recent assignments + 1) / rate goes next, with the rate smoothed ((won + 1) / (closed + 2))
  so a newcomer with no history starts at one half instead of zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from assignment.domain.rules import Method

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    consultant_id: str
    position: int  # in the pool's order
    open_prospects: int
    last_assigned_at: datetime | None
    won_recently: int = 0
    lost_recently: int = 0
    assigned_recently: int = 0

    @property
    def close_rate(self) -> float:
        return (self.won_recently + 1) / (self.won_recently + self.lost_recently + 2)

    def _turn(self) -> tuple[datetime, int]:
        return (self.last_assigned_at or _NEVER, self.position)


def choose(method: Method, candidates: list[Candidate]) -> Candidate:
    if not candidates:
        raise ValueError("nobody to choose from")
    if method == "least_loaded":
        return min(candidates, key=lambda c: (c.open_prospects, *c._turn()))
    if method == "close_rate":
        return min(candidates, key=lambda c: ((c.assigned_recently + 1) / c.close_rate, *c._turn()))
    return min(candidates, key=lambda c: c._turn())


def explain(method: Method, chosen: Candidate, cap: int) -> str:
    """A sentence for managers: why this one."""
    load = f"{chosen.open_prospects} open of {cap}"
    if method == "least_loaded":
        return f"least loaded ({load})"
    if method == "close_rate":
        return f"close rate {chosen.close_rate:.0%}, {chosen.assigned_recently} recent ({load})"
    return f"next in turn ({load})"

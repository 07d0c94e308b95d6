"""Percentiles in milliseconds; rates over each fifth of a run."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max of durations given in seconds, in milliseconds."""
    out: dict[str, float | None] = {}
    for label, q in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("max", 100.0)):
        value = percentile(seconds, q)
        out[label] = None if value is None else round(value * 1000, 1)
    return out


def by_fifth(progress: Sequence[tuple[float, int]], start: float, total: int) -> list[float | None]:
    """Items/s over each fifth of `total` items, from (time, items done) samples taken from
    `start` on; None for a fifth the samples do not resolve."""

    def reached(count: float) -> float | None:
        return next((t for t, done in progress if done >= count), None)

    out: list[float | None] = []
    previous: float | None = start
    for fifth in range(1, 6):
        at = reached(total * fifth / 5)
        if at is not None and previous is not None and at > previous:
            out.append(round(total / 5 / (at - previous), 1))
        else:
            out.append(None)
        previous = at
    return out

"""Steady growth in a soak: the slope of a least-squares line over the second half."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_POINTS = 4


@dataclass(frozen=True)
class Trend:
    metric: str
    points: int
    per_minute: float | None  # None: too few samples to say
    limit: float
    first: float | None
    last: float | None

    @property
    def growing(self) -> bool:
        return self.per_minute is not None and self.per_minute > self.limit


def second_half_slope(samples: Sequence[tuple[float, float]]) -> float | None:
    """Units per minute over the second half of (seconds, value) samples, by least squares;
    None with fewer than MIN_POINTS there (the first half is warm-up: caches, pools)."""
    half = list(samples[len(samples) // 2 :])
    if len(half) < MIN_POINTS or len({t for t, _ in half}) < 2:
        return None
    fit = statistics.linear_regression([t for t, _ in half], [v for _, v in half])
    return fit.slope * 60.0


def trend(metric: str, samples: Sequence[tuple[float, float]], limit: float) -> Trend:
    return Trend(
        metric=metric,
        points=len(samples),
        per_minute=second_half_slope(samples),
        limit=limit,
        first=samples[0][1] if samples else None,
        last=samples[-1][1] if samples else None,
    )

"""Percentiles in milliseconds."""

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

"""Soak verdicts: steady growth over the second half, not the warm-up."""

from __future__ import annotations

from forecourt_chaos.domain.trend import second_half_slope, trend


def series(values: list[float], every_s: float = 30.0) -> list[tuple[float, float]]:
    return [(i * every_s, v) for i, v in enumerate(values)]


def test_a_steady_climb_is_growth_per_minute() -> None:
    climbing = series([200 + i for i in range(10)])  # +1 MiB every 30 s
    result = trend("intake RSS MiB", climbing, limit=1.5)
    assert result.per_minute is not None and abs(result.per_minute - 2.0) < 1e-9
    assert result.growing
    assert (result.first, result.last) == (200, 209)


def test_warm_up_in_the_first_half_is_not_growth() -> None:
    warm = series([100, 150, 190, 200, 201, 200, 201, 200, 201, 200])
    result = trend("intake RSS MiB", warm, limit=1.0)
    assert result.per_minute is not None and abs(result.per_minute) < 1.0
    assert not result.growing


def test_a_flat_but_noisy_line_is_not_growth() -> None:
    assert not trend("queued messages", series([5, 9, 4, 8, 5, 9, 4, 8, 5, 9]), limit=20).growing


def test_too_few_samples_say_nothing() -> None:
    assert second_half_slope(series([1, 2, 3, 4, 5, 6])) is None  # 3 in the second half
    assert not trend("x", series([1, 100, 1000]), limit=0).growing
    assert second_half_slope([]) is None

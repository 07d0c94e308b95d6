"""Reading the rollups: a window split into whole UTC days, months and edges; percentiles from
latency bins; persistence from counted losses (issue 15)."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime
from itertools import pairwise

from metrics.adapters.reports import persistence_of
from metrics.adapters.rollups import plan, utc_days
from metrics.domain.kpis import SPEED_BINS, Window, bins_of_buckets, percentile_of_bins


def test_a_utc_window_is_whole_days_and_months_without_edges() -> None:
    p = plan(Window(date(2025, 12, 3), date(2026, 12, 2), "UTC"))
    assert (p.first, p.months_from, p.months_to, p.last) == (
        date(2025, 12, 3),
        date(2026, 1, 1),
        date(2026, 12, 1),
        date(2026, 12, 3),
    )
    assert p.edges == ()


def test_a_month_starting_on_the_31st_moves_to_the_next_first() -> None:
    p = plan(Window(date(2026, 1, 31), date(2026, 3, 31), "UTC"))
    assert (p.months_from, p.months_to) == (date(2026, 2, 1), date(2026, 4, 1))


def test_a_window_in_another_zone_has_edges_of_less_than_a_day() -> None:
    p = plan(Window(date(2026, 3, 1), date(2026, 3, 31), "America/Toronto"))
    assert (p.first, p.last) == (date(2026, 3, 2), date(2026, 4, 1))
    assert p.edges == (
        (datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 1, 4, tzinfo=UTC)),
    )
    short = plan(Window(date(2026, 3, 1), date(2026, 3, 1), "Asia/Kolkata"))
    assert len(short.edges) == 1  # not one whole UTC day inside: all from the facts


def test_days_grouped_only_when_they_are_utc_days() -> None:
    assert utc_days(Window(date(2026, 1, 1), date(2026, 12, 31), "UTC"))
    assert utc_days(Window(date(2026, 1, 1), date(2026, 1, 31), "Europe/London"))
    assert not utc_days(Window(date(2026, 3, 1), date(2026, 3, 31), "Europe/London"))


def test_buckets_are_made_of_whole_bins() -> None:
    groups = bins_of_buckets()
    assert groups[0].start == 0 and groups[-1].stop == len(SPEED_BINS) + 1
    assert all(a.stop == b.start for a, b in pairwise(groups))


def test_binned_percentiles_are_exact_for_evenly_spread_values() -> None:
    # Ten leads, one in each of the first ten bins at its middle: the median and p90 agree
    # with percentile_cont within the bins' evenness assumption.
    values = [((SPEED_BINS[i - 1] if i else 0) + SPEED_BINS[i]) / 2 for i in range(10)]
    counts = [1] * 10 + [0] * (len(SPEED_BINS) + 1 - 10)
    assert percentile_of_bins(counts, 0.5) == statistics.median(values)
    assert percentile_of_bins([0] * (len(SPEED_BINS) + 1), 0.5) is None


def test_persistence_compares_each_loss_with_its_dealerships_minimum() -> None:
    rows = [
        {
            "category": "no_interest",
            "attempts": 3,
            "min_attempts": 2,
            "automatic": False,
            "losses": 4,
        },
        {
            "category": "no_interest",
            "attempts": 3,
            "min_attempts": 5,
            "automatic": False,
            "losses": 1,
        },
        {
            "category": "not_reached",
            "attempts": 7,
            "min_attempts": -1,
            "automatic": True,
            "losses": 2,
        },
        {
            "category": "not_reached",
            "attempts": 1,
            "min_attempts": -1,
            "automatic": False,
            "losses": 1,
        },
    ]
    r = persistence_of(rows, None, 6)
    assert (r["losses"], r["below_minimum"], r["automatic"]) == (8, 2, 2)
    assert r["median"] == 3.0 and r["mean"] == (12 + 3 + 14 + 1) / 8
    assert r["histogram"] == [
        {"attempts": 1, "n": 1},
        {"attempts": 3, "n": 5},
        {"attempts": 6, "n": 2},
    ]
    assert r["by_category"] == [
        {"category": "no_interest", "losses": 5, "below_minimum": 1},
        {"category": "not_reached", "losses": 3, "below_minimum": 1},
    ]
    assert persistence_of(rows, 4, 6)["below_minimum"] == 6

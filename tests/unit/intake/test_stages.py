"""Where a lead is in the funnel, from the steps intake learnt, by their times (issue 13)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from intake.domain.stages import Step, stage_of, steps_of

T = datetime(2026, 3, 2, 10, tzinfo=UTC)
D = timedelta(days=1)


def test_first_contact_until_a_step_then_a_prospect_until_closed() -> None:
    assert stage_of([]) == "open"
    assert stage_of([Step("qualified", T)]) == "prospect"
    assert stage_of([Step("qualified", T), Step("won", T + D)]) == "closed"
    assert stage_of([Step("qualified", T), Step("lost", T + D)]) == "closed"
    assert stage_of([Step("lost", T)]) == "closed"
    assert stage_of([Step("dead", T)]) == "closed"


def test_a_reactivation_after_the_last_loss_opens_it_again_a_sale_or_death_never() -> None:
    assert stage_of([Step("lost", T), Step("reactivated", T + D)]) == "prospect"
    assert stage_of([Step("lost", T + 2 * D), Step("reactivated", T + D)]) == "closed"
    assert stage_of([Step("lost", T), Step("reactivated", T)]) == "closed"  # a tie: closed
    again = [Step("lost", T), Step("reactivated", T + D), Step("lost", T + 2 * D)]
    assert stage_of(again) == "closed"
    assert stage_of([*again, Step("reactivated", T + 3 * D)]) == "prospect"
    assert stage_of([Step("won", T), Step("reactivated", T + D)]) == "closed"
    assert stage_of([Step("dead", T + 5 * D), Step("lost", T), Step("reactivated", T + D)]) == (
        "closed"
    )
    assert stage_of([Step("closed", T), Step("reactivated", T + D)]) == "prospect"  # migrated


def test_the_stage_at_a_moment_counts_only_the_steps_before_it() -> None:
    steps = [Step("qualified", T), Step("lost", T + 2 * D), Step("reactivated", T + 4 * D)]
    assert stage_of(steps, before=T) == "open"  # a step at that very moment is not before it
    assert stage_of(steps, before=T + D) == "prospect"
    assert stage_of(steps, before=T + 3 * D) == "closed"
    assert stage_of(steps, before=T + 5 * D) == "prospect"
    ended = [*steps, Step("dead", T + 6 * D)]
    assert stage_of(ended, before=T + 5 * D) == "prospect"
    assert stage_of(ended, before=T + 7 * D) == "closed"


@pytest.mark.parametrize("before", [None, T + D / 2, T + 3 * D])
def test_any_order_gives_the_same_stage(before: datetime | None) -> None:
    steps = [
        Step("qualified", T),
        Step("lost", T + D),
        Step("reactivated", T + 2 * D),
        Step("lost", T + 4 * D),
    ]
    assert len({stage_of(list(p), before) for p in itertools.permutations(steps)}) == 1


def test_steps_round_trip_as_json_and_unknown_ones_are_refused() -> None:
    steps = [Step("qualified", T), Step("dead", T + D)]
    assert steps_of([s.to_json() for s in steps]) == steps
    assert steps_of(None) == []
    with pytest.raises(ValueError, match="unknown funnel step"):
        steps_of([{"kind": "reopened", "at": T.isoformat()}])

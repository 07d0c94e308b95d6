"""The fault schedule: seeded, and every kind in every round."""

from __future__ import annotations

import itertools
import random

from forecourt_chaos.domain.faults import FaultKind, Timing, schedule


def test_each_round_has_every_kind_once_in_a_seeded_order() -> None:
    kinds = list(FaultKind)
    first = list(itertools.islice(schedule(random.Random(9), kinds), 3 * len(kinds)))
    again = list(itertools.islice(schedule(random.Random(9), kinds), 3 * len(kinds)))
    assert first == again
    for start in range(0, len(first), len(kinds)):
        assert sorted(f.kind for f in first[start : start + len(kinds)]) == sorted(kinds)
    assert [f.kind for f in first[: len(kinds)]] != [
        f.kind for f in first[len(kinds) :][: len(kinds)]
    ]


def test_timings_stay_in_their_ranges_and_instant_faults_hold_nothing() -> None:
    timing = Timing(gap=(1, 2), hold=(3, 4), latency=(0.1, 0.2))
    for fault in itertools.islice(schedule(random.Random(1), list(FaultKind), timing), 50):
        assert 1 <= fault.gap <= 2
        assert 0.1 <= fault.latency <= 0.2
        if fault.kind in (FaultKind.AMQP_RESET, FaultKind.PG_RESET):
            assert fault.hold == 0
        else:
            assert 3 <= fault.hold <= 4

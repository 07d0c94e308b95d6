"""The faults the harness injects, and their seeded schedule."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    KILL_REPLICA = "kill-replica"  # kill -9 of one service process; restarted
    BROKER_STOP_APP = "broker-stop-app"  # rabbitmqctl stop_app, then start_app
    BROKER_KILL = "broker-kill"  # kill -9 of the broker's VM; restarted
    POSTGRES_RESTART = "postgres-restart"  # pg_ctlcluster stop -m immediate, then start
    AMQP_LATENCY = "amqp-latency"  # services <-> broker: each chunk delayed
    AMQP_RESET = "amqp-reset"  # services <-> broker: every connection aborted (RST)
    AMQP_BLACKHOLE = "amqp-blackhole"  # services <-> broker: nothing passes, nobody told
    PG_LATENCY = "pg-latency"
    PG_RESET = "pg-reset"
    PG_BLACKHOLE = "pg-blackhole"

    @property
    def instant(self) -> bool:
        """Done at once (a kill, a reset): nothing to hold."""
        return self in (FaultKind.AMQP_RESET, FaultKind.PG_RESET)


@dataclass(frozen=True)
class Timing:
    gap: tuple[float, float] = (2.0, 6.0)  # seconds of calm before a fault
    hold: tuple[float, float] = (2.0, 8.0)  # seconds a fault lasts (down, slow, partitioned)
    latency: tuple[float, float] = (0.05, 0.5)  # seconds added per chunk by a latency fault


@dataclass(frozen=True)
class PlannedFault:
    kind: FaultKind
    gap: float
    hold: float
    latency: float
    pick: int  # which replica, for a kill: an index taken modulo the replicas


def schedule(
    rng: random.Random, kinds: Sequence[FaultKind], timing: Timing = Timing()
) -> Iterator[PlannedFault]:
    """Faults without end, in rounds: each round every kind once, in a shuffled order, so that
    a short run still meets every kind."""
    while True:
        round_ = list(kinds)
        rng.shuffle(round_)
        for kind in round_:
            yield PlannedFault(
                kind=kind,
                gap=round(rng.uniform(*timing.gap), 2),
                hold=0.0 if kind.instant else round(rng.uniform(*timing.hold), 2),
                latency=round(rng.uniform(*timing.latency), 3),
                pick=rng.randrange(1 << 16),
            )

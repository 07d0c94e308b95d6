"""The backlog: N `lead.ingested` waiting in crm-queue's queue while it is down, then drained.

Progress is read straight from the service's database (rows in `task`, pending outbox rows)
and from the broker (ready messages, by passive declare), every `poll_s` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench.common.stats import by_fifth
from bench.crm_queue.events import QueueWatcher

_TASKS = "SELECT count(*) FROM task"
_OUTBOX_PENDING = "SELECT count(*) FROM outbox_message WHERE published_at IS NULL"


@dataclass(frozen=True)
class Sample:
    t: float  # monotonic
    tasks: int
    ready: int | None  # ready messages in the lead.ingested queue (None: not declared)
    outbox_pending: int


@dataclass
class Drain:
    samples: list[Sample] = field(default_factory=list)
    outcome: str = "running"  # done | stalled | timeout | exited

    def first(self, test: Callable[[Sample], bool]) -> Sample | None:
        return next((s for s in self.samples if test(s)), None)

    def reached(self, tasks: float) -> Sample | None:
        """The first sample with at least `tasks` tasks."""
        return next((s for s in self.samples if s.tasks >= tasks), None)


async def sample(db: asyncpg.Connection, watcher: QueueWatcher) -> Sample:
    tasks = int(await db.fetchval(_TASKS))
    pending = int(await db.fetchval(_OUTBOX_PENDING))
    depth = await watcher.depth()
    return Sample(time.monotonic(), tasks, depth.messages if depth else None, pending)


async def drain(
    db: asyncpg.Connection,
    watcher: QueueWatcher,
    total: int,
    *,
    alive: Callable[[], bool],
    on_sample: Callable[[Sample], None],
    wait_s: float,
    stall_s: float = 60.0,
    poll_s: float = 0.5,
) -> Drain:
    """Sample until `total` tasks exist; give up if the service exits, after `wait_s`, or once
    the queue is empty and the task count has not moved for `stall_s` (lost or dead-lettered
    events)."""
    out = Drain()
    deadline = time.monotonic() + wait_s
    moved = time.monotonic()
    while True:
        s = await sample(db, watcher)
        if out.samples and s.tasks != out.samples[-1].tasks:
            moved = s.t
        out.samples.append(s)
        on_sample(s)
        if s.tasks >= total:
            out.outcome = "done"
            return out
        if not alive():
            out.outcome = "exited"
            return out
        if s.t > deadline:
            out.outcome = "timeout"
            return out
        if s.ready == 0 and s.t - moved > stall_s:
            out.outcome = "stalled"
            return out
        await asyncio.sleep(poll_s)


async def outbox_caught_up(
    db: asyncpg.Connection, watcher: QueueWatcher, into: Drain, wait_s: float, poll_s: float = 0.5
) -> Sample | None:
    """Keep sampling until the relay has published every outbox row; that sample, or None."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        s = await sample(db, watcher)
        into.samples.append(s)
        if s.outbox_pending == 0:
            return s
        await asyncio.sleep(poll_s)
    return None


def _rel(at: float | None, origin: float) -> float | None:
    return None if at is None else round(at - origin, 2)


def summarise(drain: Drain, total: int, launched: float, healthy: float) -> dict[str, Any]:
    """Tasks/s over the drain (from the service answering /healthz), per fifth, and the queue
    depth and outbox backlog as the fifths were reached. Times in s from /healthz."""
    samples = drain.samples
    done = drain.reached(total)
    at_healthy = samples[0].tasks if samples else 0
    progress = [(s.t, s.tasks) for s in samples]
    fifths: list[dict[str, Any]] = []
    for fifth in range(1, 6):
        reached = drain.reached(total * fifth / 5)
        fifths.append(
            {
                "tasks": total * fifth // 5,
                "at_s": _rel(reached.t if reached else None, healthy),
                "ready_in_queue": reached.ready if reached else None,
                "outbox_pending": reached.outbox_pending if reached else None,
            }
        )
    empty = drain.first(lambda s: s.ready == 0)
    caught_up = drain.first(lambda s: s.tasks >= total and s.outbox_pending == 0)
    last = samples[-1] if samples else None
    return {
        "outcome": drain.outcome,
        "tasks_created": last.tasks if last else 0,
        "launch_to_healthy_s": round(healthy - launched, 2),
        "tasks_at_healthy": at_healthy,
        "all_tasks_s": _rel(done.t if done else None, healthy),
        "tasks_per_s": (
            round((total - at_healthy) / (done.t - healthy), 1)
            if done and done.t > healthy
            else None
        ),
        "tasks_per_s_from_launch": round(total / (done.t - launched), 1) if done else None,
        "tasks_per_s_by_fifth": by_fifth(progress, healthy, total),
        "fifths": fifths,
        "queue_empty_s": _rel(empty.t if empty else None, healthy),
        "outbox_caught_up_s": _rel(caught_up.t if caught_up else None, healthy),
        "max_outbox_pending": max((s.outbox_pending for s in samples), default=0),
        "samples": [[round(s.t - healthy, 2), s.tasks, s.ready, s.outbox_pending] for s in samples],
    }

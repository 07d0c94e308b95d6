"""How far leads got, read straight from the services' databases: tasks in crm-queue, leads
counted by metrics (sampled while a phase runs), and each lead's times along the way (after it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from bench.common.stats import by_fifth, summary_ms
from bench.intake.json_path import Sent

_TASKS = "SELECT count(*) FROM task"
_COUNTED = "SELECT count(*) FROM lead_fact"
# intake's lead.ingested rows: created_at is now() of intake's transaction (it began after the
# POST arrived), published_at now() of the relay's (it claimed the row, then published it).
_INTAKE_ROWS = (
    "SELECT convert_from(body, 'UTF8')::jsonb->>'lead_id' AS lead_id, created_at, published_at "
    "FROM outbox_message WHERE routing_key = 'lead.ingested.v1'"
)
# created_at is the clock crm-queue's batch handler read as it began (shared by the batch).
_TASK_ROWS = "SELECT lead_id::text AS lead_id, created_at FROM task WHERE lead_id = ANY($1::uuid[])"


@dataclass(frozen=True)
class Point:
    t: float  # monotonic
    tasks: int  # rows in crm-queue's task
    counted: int  # rows in metrics' lead_fact


@dataclass
class Progress:
    points: list[Point] = field(default_factory=list)
    outcome: str = "running"  # done | stalled | timeout | exited


class Funnel:
    """Connections to crm-queue's and metrics' databases, for counting."""

    def __init__(self, crm_dsn: str, metrics_dsn: str) -> None:
        self._dsns = (crm_dsn, metrics_dsn)
        self._crm: asyncpg.Connection | None = None
        self._metrics: asyncpg.Connection | None = None

    async def open(self) -> None:
        self._crm, self._metrics = [await asyncpg.connect(dsn) for dsn in self._dsns]

    async def close(self) -> None:
        for conn in (self._crm, self._metrics):
            if conn is not None:
                await conn.close()

    async def point(self) -> Point:
        assert self._crm is not None and self._metrics is not None, "open() first"
        tasks = int(await self._crm.fetchval(_TASKS))
        counted = int(await self._metrics.fetchval(_COUNTED))
        return Point(time.monotonic(), tasks, counted)

    async def follow(
        self,
        target: Callable[[], int],
        *,
        alive: Callable[[], bool],
        on_point: Callable[[Point], None],
        wait_s: float,
        stall_s: float = 60.0,
        poll_s: float = 0.5,
        into: Progress | None = None,
    ) -> Progress:
        """Sample until crm-queue has `target()` tasks and metrics has counted `target()`
        leads; give up if a service exits, after `wait_s`, or when nothing moved for `stall_s`
        (the target may grow meanwhile)."""
        out = into or Progress()
        deadline = time.monotonic() + wait_s
        moved = time.monotonic()
        while True:
            p = await self.point()
            last = out.points[-1] if out.points else None
            if last is None or (p.tasks, p.counted) != (last.tasks, last.counted):
                moved = p.t
            out.points.append(p)
            on_point(p)
            if p.tasks >= target() and p.counted >= target():
                out.outcome = "done"
            elif not alive():
                out.outcome = "exited"
            elif p.t > deadline:
                out.outcome = "timeout"
            elif p.t - moved > stall_s:
                out.outcome = "stalled"
            else:
                await asyncio.sleep(poll_s)
                continue
            return out


def rates(progress: Progress, start: float, base: Point, leads: int) -> dict[str, Any]:
    """Leads/s into crm-queue's tasks and into metrics' counts from `start` (the first POST),
    per fifth too; `base` is the count before the phase."""

    def first(test: Callable[[Point], bool]) -> Point | None:
        return next((p for p in progress.points if test(p)), None)

    tasks_done = first(lambda p: p.tasks - base.tasks >= leads)
    counted_done = first(lambda p: p.counted - base.counted >= leads)
    both = first(lambda p: p.tasks - base.tasks >= leads and p.counted - base.counted >= leads)

    def per_s(point: Point | None) -> float | None:
        return round(leads / (point.t - start), 1) if point and point.t > start else None

    last = progress.points[-1] if progress.points else base
    return {
        "outcome": progress.outcome,
        "tasks": last.tasks - base.tasks,
        "counted": last.counted - base.counted,
        "tasks_per_s": per_s(tasks_done),
        "counted_per_s": per_s(counted_done),
        "funnel_per_s": per_s(both),
        "funnel_s": round(both.t - start, 2) if both else None,
        "tasks_per_s_by_fifth": by_fifth(
            [(p.t, p.tasks - base.tasks) for p in progress.points], start, leads
        ),
        "counted_per_s_by_fifth": by_fifth(
            [(p.t, p.counted - base.counted) for p in progress.points], start, leads
        ),
    }


def _ms(later: datetime | None, earlier_wall: float) -> float | None:
    return None if later is None else later.timestamp() - earlier_wall


async def stages(
    intake_dsn: str, crm_dsn: str, sent: Sequence[Sent], wall_offset: float
) -> dict[str, Any]:
    """Each accepted lead's times from its POST (monotonic + `wall_offset` = wall clock): the
    202, intake's transaction, the relay's claim, crm-queue's handler; p50/p95/p99/max."""
    accepted = {s.lead_id: s for s in sent if s.status == 202 and s.lead_id}
    if not accepted:
        return {}
    intake = await asyncpg.connect(intake_dsn)
    try:
        outbox = {r["lead_id"]: r for r in await intake.fetch(_INTAKE_ROWS)}
    finally:
        await intake.close()
    crm = await asyncpg.connect(crm_dsn)
    try:
        tasks = {r["lead_id"]: r["created_at"] for r in await crm.fetch(_TASK_ROWS, list(accepted))}
    finally:
        await crm.close()
    answered, written, claimed, handled = [], [], [], []
    for lead_id, s in accepted.items():
        posted = s.sent + wall_offset
        answered.append(s.done - s.sent)
        row = outbox.get(lead_id)
        if row is not None:
            written.append(_ms(row["created_at"], posted))
            claimed.append(_ms(row["published_at"], posted))
        handled.append(_ms(tasks.get(lead_id), posted))
    return {
        "leads": len(accepted),
        "http_202_ms": summary_ms(answered),
        "intake_transaction_ms": summary_ms([v for v in written if v is not None]),
        "relay_claimed_ms": summary_ms([v for v in claimed if v is not None]),
        "crm_handled_ms": summary_ms([v for v in handled if v is not None]),
        "without_task": sum(1 for v in handled if v is None),
    }

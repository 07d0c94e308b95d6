"""Faults, one after another: inject, hold, heal, then measure the recovery with a probe lead.

Recovery is the time from the heal (the dependency is back, the replica restarted) until a
probe lead posted after it is visible at the end of the funnel (see `probe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psutil

from forecourt_chaos.domain.faults import FaultKind, PlannedFault, Timing, schedule
from forecourt_chaos.service_layer.probe import Prober
from forecourt_chaos.service_layer.stack import AMQP, POSTGRES, Stack

ORPHAN_GRACE_S = 5.0  # a relay process must stop this soon after its service is killed

_LINKS = {
    FaultKind.AMQP_LATENCY: AMQP,
    FaultKind.AMQP_RESET: AMQP,
    FaultKind.AMQP_BLACKHOLE: AMQP,
    FaultKind.PG_LATENCY: POSTGRES,
    FaultKind.PG_RESET: POSTGRES,
    FaultKind.PG_BLACKHOLE: POSTGRES,
}


@dataclass
class FaultRecord:
    kind: FaultKind
    target: str
    started: float  # seconds since the run started
    healed: float | None = None
    accepted: float | None = None  # intake took the probe lead (202)
    recovered: float | None = None  # every service has it
    detail: str = ""
    error: str | None = None
    orphans: list[str] = field(default_factory=list)  # processes that outlived a killed service

    @property
    def recovery_s(self) -> float | None:
        if self.healed is None or self.recovered is None:
            return None
        return round(self.recovered - self.healed, 3)

    @property
    def intake_s(self) -> float | None:
        """The part of the recovery until intake took the probe."""
        if self.healed is None or self.accepted is None:
            return None
        return round(self.accepted - self.healed, 3)


class Injector:
    def __init__(
        self,
        stack: Stack,
        prober: Prober,
        *,
        seed: int,
        kinds: Sequence[FaultKind],
        timing: Timing,
        recovery_wait_s: float,
        t0: float,
        say: Callable[[str], None],
    ) -> None:
        self._stack = stack
        self._schedule = schedule(random.Random(seed + 1), kinds, timing)
        self._recovery_wait_s = recovery_wait_s
        self._t0 = t0
        self._say = say
        self._prober = prober
        self.records: list[FaultRecord] = []
        self._orphan_checks: list[asyncio.Task[None]] = []

    def _now(self) -> float:
        return round(time.monotonic() - self._t0, 3)

    async def run(self, max_faults: int, stop: Callable[[], bool]) -> None:
        while len(self.records) < max_faults and not stop():
            planned = next(self._schedule)
            await asyncio.sleep(planned.gap)
            if stop():
                break
            record = await self.inject(planned)
            self.records.append(record)
            try:
                fixed = await self._stack.heal_all()
            except Exception as exc:  # noted; the drain's heal tries again
                record.error = f"{record.error or ''} heal failed: {exc!r}"[:400].strip()
                fixed = []
            if fixed:
                record.detail += f" (then: {', '.join(fixed)})"
            await self.recover(record)
            self._report(record)
        await asyncio.gather(*self._orphan_checks)

    def _report(self, r: FaultRecord) -> None:
        rec = f"{r.recovery_s:.1f}s" if r.recovery_s is not None else "[red]not recovered[/red]"
        error = f" [red]{r.error}[/red]" if r.error else ""
        orphans = f" [red]orphans: {', '.join(r.orphans)}[/red]" if r.orphans else ""
        self._say(
            f"fault {len(self.records)} at {r.started:.0f}s: {r.kind} {r.target} {r.detail}"
            f" -> recovered in {rec}{error}{orphans}"
        )

    async def inject(self, planned: PlannedFault) -> FaultRecord:
        kind = planned.kind
        record = FaultRecord(kind, "", self._now())
        try:
            if kind is FaultKind.KILL_REPLICA:
                await self._kill_replica(planned, record)
            elif kind is FaultKind.BROKER_STOP_APP:
                record.target = self._stack.rabbit.node
                await self._stack.rabbit.stop_app()
                await asyncio.sleep(planned.hold)
                await self._stack.rabbit.start_app()
            elif kind is FaultKind.BROKER_KILL:
                record.target = self._stack.rabbit.node
                record.detail = f"pid {await self._stack.rabbit.crash()}"
                await asyncio.sleep(planned.hold)
                self._stack.rabbit.start()
                waited = await self._stack.rabbit.wait_ready()
                record.detail += f", restarted in {waited:.1f}s"
            elif kind is FaultKind.POSTGRES_RESTART:
                record.target = self._stack.pg.name
                await self._stack.pg.stop_immediate()
                await asyncio.sleep(planned.hold)
                await self._stack.pg.start()
            else:
                await self._network(planned, record)
            if kind is not FaultKind.KILL_REPLICA and not kind.instant:
                record.detail = f"{planned.hold:.1f}s {record.detail}".strip()
        except Exception as exc:  # note it; heal_all() puts things right
            record.error = f"{type(exc).__name__}: {exc}"[:300]
        record.healed = self._now()
        return record

    async def _kill_replica(self, planned: PlannedFault, record: FaultRecord) -> None:
        running = [r for r in self._stack.replicas if r.running()]
        replica = running[planned.pick % len(running)]
        record.target = replica.name
        pid, children = replica.kill()
        record.detail = f"pid {pid}"
        self._orphan_checks.append(asyncio.create_task(self._watch_orphans(children, record)))
        await self._stack.restart(replica)

    async def _watch_orphans(self, children: list[psutil.Process], record: FaultRecord) -> None:
        """Children of a killed service still running after the grace are noted and killed."""
        deadline = time.monotonic() + ORPHAN_GRACE_S
        alive = children
        while alive and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            alive = [p for p in alive if _alive(p)]
        for process in alive:
            with contextlib.suppress(psutil.Error):
                record.orphans.append(f"{process.name()} {process.pid}")
                process.kill()

    async def _network(self, planned: PlannedFault, record: FaultRecord) -> None:
        link = _LINKS[planned.kind]
        proxies = self._stack.proxies
        record.target = f"{link} link"
        if planned.kind in (FaultKind.AMQP_RESET, FaultKind.PG_RESET):
            record.detail = f"{await proxies.reset(link)} connections reset"
            return
        if planned.kind in (FaultKind.AMQP_LATENCY, FaultKind.PG_LATENCY):
            await proxies.latency(link, planned.latency)
            record.detail = f"+{planned.latency * 1000:.0f}ms per chunk"
        else:
            await proxies.blackhole(link)
        await asyncio.sleep(planned.hold)
        await proxies.heal(link)

    async def recover(self, record: FaultRecord) -> None:
        """A probe lead, posted after the heal, seen everywhere: the recovery."""
        seen = await self._prober.probe(self._recovery_wait_s)
        if seen.error:
            record.error = f"{record.error or ''} {seen.error}".strip()
        if seen.visible_at is not None:
            record.recovered = round(seen.visible_at - self._t0, 3)
        if seen.accepted_at is not None:
            record.accepted = round(seen.accepted_at - self._t0, 3)


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False

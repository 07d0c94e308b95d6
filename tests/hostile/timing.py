"""The hostile suites' time budgets, the `/healthz` probe, and what each case measured.

One place for both suites (intake and crm-queue in test_hostile_input.py; assignment, recovery
and metrics in test_hostile_downstream.py): a refusal answers within `ANSWER_WITHIN`, and a
`/healthz` probe sent over and over while it is handled answers each time within
`PROBE_WITHIN` (no stalled worker). `FORECOURT_HOSTILE_SLACK` multiplies every budget (a factor
for a slow or shared machine: .ci/run sets 2).

Every case's figures are kept (`record`, before `check` holds them to the budgets), and the
slowest are printed at the end of the run (tests/hostile/conftest.py) with the machine's load
average, so a budget missed can be told from a busy machine; `FORECOURT_HOSTILE_TIMINGS=<file>`
also writes them all as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

SLACK = float(os.environ.get("FORECOURT_HOSTILE_SLACK", "1"))
ANSWER_WITHIN = 1.0 * SLACK  # seconds: a refusal is quick
PROBE_WITHIN = 0.2 * SLACK  # seconds: /healthz while a case is handled
DEAD_LETTER_WITHIN = 3.0 * SLACK  # seconds: an AMQP refusal, through the broker twice
TIMINGS_ENV = "FORECOURT_HOSTILE_TIMINGS"


@dataclass
class Timing:
    case: str
    answer: float  # seconds to the answer (over AMQP: to the dead letter or the taking in)
    budget: float  # what `answer` must stay under
    probe: float  # seconds: the slowest /healthz while the case was handled
    probes: int  # how many /healthz were sent meanwhile
    load: float  # the machine's 1-minute load average then
    after: float | None = None  # seconds: another group's good request after the case

    @property
    def share(self) -> float:
        """The larger of the answer's and the probe's share of their budgets."""
        after = (self.after or 0.0) / ANSWER_WITHIN
        return max(self.answer / self.budget, self.probe / PROBE_WITHIN, after)

    def check_after(self, seconds: float) -> None:
        """Another dealer group's good request after the case answered within a second."""
        self.after = seconds
        assert seconds < ANSWER_WITHIN, (
            f"the next good request took {seconds:.2f} s (budget {ANSWER_WITHIN:g} s)"
        )


TIMINGS: list[Timing] = []


class Probe:
    """`/healthz` over and over, one after another, while a case is handled.

    From a thread of its own, not the test's event loop: that loop also builds and sends the
    case (a 5 MB body is dumped to JSON and written out there), and a probe answered in time
    but read late would count the test's own work as the service's stall. `start` returns once
    a first `/healthz` (connection set up, not counted) has answered, so the probes cover the
    whole case; `stop` returns their latencies (at least one)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, url: str) -> Probe:
        probe = cls(url)
        thread = probe._thread = asyncio.create_task(asyncio.to_thread(probe._run))
        while not probe._ready.is_set():
            if thread.done():
                await thread  # its error
            await asyncio.sleep(0.005)
        return probe

    async def stop(self) -> list[float]:
        self._stop.set()
        if self._thread is not None:
            await self._thread
        return self.latencies

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            client.get("/healthz").raise_for_status()
            self._ready.set()
            while not self.latencies or not self._stop.is_set():
                started = time.monotonic()
                r = client.get("/healthz")
                self.latencies.append(time.monotonic() - started)
                assert r.status_code == 200
                self._stop.wait(0.02)


def record(case: str, answer: float, latencies: list[float], budget: float) -> Timing:
    """Keep a case's figures (for the summary), whether or not it then holds its budgets."""
    timing = Timing(case, answer, budget, max(latencies), len(latencies), os.getloadavg()[0])
    TIMINGS.append(timing)
    return timing


def check(timing: Timing) -> None:
    """The case answered within its budget, and no /healthz meanwhile was slow."""
    assert timing.answer < timing.budget, (
        f"answered in {timing.answer:.2f} s (budget {timing.budget:g} s)"
    )
    assert timing.probe < PROBE_WITHIN, (
        f"/healthz took {timing.probe * 1000:.0f} ms (budget {PROBE_WITHIN * 1000:.0f} ms)"
    )


def summary(slowest: int = 10) -> list[str]:
    """The cases closest to (or past) their budgets, for the end of the run."""
    if not TIMINGS:
        return []
    ranked = sorted(TIMINGS, key=lambda t: t.share, reverse=True)[:slowest]
    probes = sorted(t.probe for t in TIMINGS)
    load = os.getloadavg()
    lines = [
        f"{len(TIMINGS)} cases; budgets: answer {ANSWER_WITHIN:g} s (over AMQP "
        f"{DEAD_LETTER_WITHIN:g} s), /healthz {PROBE_WITHIN * 1000:.0f} ms "
        f"(FORECOURT_HOSTILE_SLACK={SLACK:g}); load average now {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} on {os.cpu_count()} cores",
        f"/healthz: median {probes[len(probes) // 2] * 1000:.0f} ms, "
        f"slowest {probes[-1] * 1000:.0f} ms",
        f"{'answer s':>9} {'budget':>6} {'healthz ms':>10} {'probes':>6} {'next s':>6} "
        f"{'load':>5}  case",
    ]
    lines += [
        f"{t.answer:9.3f} {t.budget:6g} {t.probe * 1000:10.0f} {t.probes:6d} "
        f"{'-' if t.after is None else f'{t.after:.3f}':>6} {t.load:5.1f}  {t.case}"
        for t in ranked
    ]
    if path := os.environ.get(TIMINGS_ENV):
        Path(path).write_text(json.dumps([asdict(t) for t in TIMINGS], indent=1))
        lines.append(f"every case's figures: {path}")
    return lines

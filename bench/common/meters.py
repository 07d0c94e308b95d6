"""Peak RSS of a service process, and who used the CPUs during a phase."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping

import psutil

MIB = 1 << 20


class RssSampler:
    """Samples the RSS of a process every `interval` seconds; keeps the peak per phase."""

    def __init__(self, process: psutil.Process, interval: float = 0.1) -> None:
        self._process = process
        self._interval = interval
        self._phase = "startup"
        self.peaks_mib: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def phase(self, name: str) -> None:
        self._phase = name
        self._sample()

    def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            # With its children: a relay in a process of its own is part of the service.
            family = [self._process, *self._process.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in family) / MIB
            self.peaks_mib[self._phase] = max(self.peaks_mib.get(self._phase, 0.0), rss)

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _family(pid: int) -> set[int]:
    """A process and its descendants: a service's workers and relay processes are the service."""
    if pid <= 0:  # no service in this phase (the raw ceilings)
        return set()
    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return {pid}


def _group(
    process: psutil.Process, service_pids: Mapping[int, str], bench_pids: set[int]
) -> str | None:
    if process.pid in service_pids:
        return service_pids[process.pid]
    if process.pid in bench_pids:
        return "bench"
    name = process.info["name"] or ""
    if name == "postgres" or name.startswith("postgres:"):
        return "postgres"
    if name == "beam.smp":
        return "rabbitmq"
    return None


def _cpu_by_pid(services: Mapping[str, int], bench_pids: set[int]) -> dict[int, tuple[str, float]]:
    out: dict[int, tuple[str, float]] = {}
    service_pids = {pid: name for name, root in services.items() for pid in _family(root)}
    for process in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            group = _group(process, service_pids, bench_pids)
            if group is not None:
                times = process.cpu_times()
                out[process.pid] = (group, times.user + times.system)
    return out


def _busy() -> float:
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(sum(times)) - float(idle)


class CpuMeter:
    """CPU cores used per group (the service, postgres, rabbitmq, bench, other) over a phase.

    `service` names the group of the process `service_pid` (e.g. "intake"); its CPU seconds
    are also reported as `<service>_cpu_s`, split into `<service>_main_cpu_s` (that process)
    and `<service>_children_cpu_s` (its relay process, worker processes). `services`
    (name → pid) measures several at once instead, each a group of its own, with the same keys.
    """

    def __init__(
        self,
        service_pid: int = -1,
        service: str = "service",
        *,
        services: Mapping[str, int] | None = None,
    ) -> None:
        self._services = dict(services) if services is not None else {service: service_pid}
        self._start: dict[int, tuple[str, float]] = {}
        self._t0 = 0.0
        self._busy0 = 0.0

    @staticmethod
    def _pids() -> set[int]:
        """This process and its children (probes; uv, but the service is counted apart)."""
        me = psutil.Process()
        return {me.pid, *(child.pid for child in me.children(recursive=True))}

    def start(self) -> None:
        self._start = _cpu_by_pid(self._services, self._pids())
        self._t0 = time.monotonic()
        self._busy0 = _busy()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self._t0
        end = _cpu_by_pid(self._services, self._pids())
        used = dict.fromkeys(self._services, 0.0) | dict.fromkeys(
            ("postgres", "rabbitmq", "bench"), 0.0
        )
        mains = {pid: name for name, pid in self._services.items()}
        main = dict.fromkeys(self._services, 0.0)
        for pid, (group, seconds) in end.items():
            before = self._start.get(pid)
            spent = seconds - (before[1] if before and before[0] == group else 0.0)
            used[group] += spent
            if pid in mains:
                main[mains[pid]] = spent
        cores = {group: round(seconds / wall, 2) for group, seconds in used.items()}
        machine = (_busy() - self._busy0) / wall
        cores["other"] = round(max(machine - sum(cores.values()), 0.0), 2)
        cores["machine"] = round(machine, 2)
        cores["of"] = float(psutil.cpu_count() or 0)
        cores["seconds"] = round(wall, 2)
        for name in self._services:
            cores[f"{name}_cpu_s"] = round(used[name], 2)
            cores[f"{name}_main_cpu_s"] = round(main[name], 2)
            cores[f"{name}_children_cpu_s"] = round(used[name] - main[name], 2)
        return cores

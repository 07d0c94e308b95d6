"""What a run created (a broker node, a database cluster, processes, a work folder), undone in
reverse order at the end whatever happens: success, failure, Ctrl-C.

The work folder holds `state.json`: the owner's pid and what to undo. A run killed too hard to
clean up (kill -9 of the harness) leaves it behind; the next run sweeps such folders whose
owner is gone (`sweep_stale`), so nothing private outlives its run for long.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

PREFIX = "fcchaos-"
STATE = "state.json"
# Set in the environment of every process a run starts (children inherit it): what is left of
# a run is found by it, orphans included. epmd is shared by every Erlang node: never ours to stop.
MARKER = "FORECOURT_CHAOS_WORKDIR"
SHARED_PROCESSES = frozenset({"epmd"})


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


class Cleanup:
    def __init__(self, base: Path | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
        self.workdir.chmod(0o755)  # PostgreSQL and RabbitMQ tools read files in it
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._state: dict[str, Any] = {
            "owner": os.getpid(),
            "owner_started": _create_time(os.getpid()),
            "pg_clusters": [],  # [version, name]
        }
        self._save()

    def _save(self) -> None:
        (self.workdir / STATE).write_text(json.dumps(self._state))

    @property
    def marker(self) -> dict[str, str]:
        """Environment for every process this run starts."""
        return {MARKER: str(self.workdir)}

    def mark_this_process(self) -> None:
        """Every child started from here on carries the mark, those of multiprocessing (the
        proxy process) too: the sweep finds them if this process is killed."""
        os.environ[MARKER] = str(self.workdir)

    def push(self, what: str, undo: Callable[[], None]) -> None:
        """Undo `what` at the end (last pushed, first undone)."""
        self._undo.append((what, undo))

    def track_cluster(self, version: str, name: str) -> None:
        self._state["pg_clusters"].append([version, name])
        self._save()

    def run(self, *, keep: Path | None = None) -> list[str]:
        """Undo everything; returns what could not be undone. `keep`: copy the work folder's
        logs there first."""
        errors = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:
                errors.append(f"{what}: {exc}")
        left = kill_marked(self.workdir)
        if left:
            errors.append(f"processes still running at the end, killed: {left}")
        if keep is not None:
            with contextlib.suppress(OSError):
                _copy_logs(self.workdir, keep)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return errors


def _copy_logs(workdir: Path, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    for path in workdir.rglob("*.log"):
        shutil.copy2(path, keep / path.name)


def kill_marked(workdir: Path) -> list[str]:
    """SIGKILL every process started for the run of `workdir`; returns them (name and pid).
    The calling process and its multiprocessing resource tracker are spared."""
    me = psutil.Process()
    spared = {me.pid}
    for child in me.children():
        with contextlib.suppress(psutil.Error):
            if "multiprocessing.resource_tracker" in " ".join(child.cmdline()):
                spared.add(child.pid)
    killed = []
    for process in psutil.process_iter(["name", "pid"]):
        with contextlib.suppress(psutil.Error):
            if process.info["name"] in SHARED_PROCESSES or process.pid in spared:
                continue
            if process.environ().get(MARKER) == str(workdir):
                process.kill()
                killed.append(f"{process.info['name']} {process.pid}")
    return killed


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a process group led by `pid` (every service, relay and broker process of ours
    starts its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def drop_cluster(version: str, name: str) -> None:
    subprocess.run(  # noqa: S603
        ["pg_dropcluster", "--stop", version, name],  # noqa: S607
        capture_output=True,
        timeout=120,
        check=False,
    )


def sweep_stale(base: Path | None = None) -> list[str]:
    """Remove what runs whose harness died without cleaning up left behind; returns the work
    folders removed. Runs whose owner still lives are left alone."""
    removed = []
    root = Path(base or tempfile.gettempdir())
    for workdir in root.glob(f"{PREFIX}*"):
        try:
            state = json.loads((workdir / STATE).read_text())
        except (OSError, ValueError):
            continue
        if _create_time(int(state["owner"])) == state.get("owner_started"):
            continue  # its harness is still running
        kill_marked(workdir)
        for version, name in state.get("pg_clusters", []):
            drop_cluster(version, name)
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(str(workdir))
    return removed

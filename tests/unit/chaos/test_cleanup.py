"""The harness leaves nothing behind: undo in reverse order, kill what carries the run's mark,
and sweep what a harness killed too hard to clean up left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from forecourt_chaos.adapters.cleanup import MARKER, STATE, Cleanup, sweep_stale


def _sleeper(mark: dict[str, str]) -> subprocess.Popen[bytes]:
    """A process of the run (as a service or the broker would be), in a session of its own."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env=os.environ | mark,
        start_new_session=True,
    )


def _gone(process: subprocess.Popen[bytes]) -> bool:
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_the_end_undoes_in_reverse_kills_marked_processes_and_removes_the_folder(
    tmp_path: Path,
) -> None:
    cleanup = Cleanup(tmp_path)
    done: list[str] = []
    cleanup.push("first", lambda: done.append("first"))
    cleanup.push("broken", lambda: 1 / 0)
    cleanup.push("last", lambda: done.append("last"))
    orphan = _sleeper(cleanup.marker)
    errors = cleanup.run()
    assert done == ["last", "first"]  # a failing step does not stop the others
    assert errors[0].startswith("broken: ")
    assert "processes still running at the end" in errors[1]
    assert _gone(orphan)
    assert not cleanup.workdir.exists()


def test_a_run_whose_harness_died_is_swept_and_a_live_one_left_alone(tmp_path: Path) -> None:
    dead, alive = Cleanup(tmp_path), Cleanup(tmp_path)
    state = json.loads((dead.workdir / STATE).read_text())
    state["owner_started"] = 0.0  # the owner's pid now names another process: it is gone
    (dead.workdir / STATE).write_text(json.dumps(state))
    left = _sleeper(dead.marker)
    kept = _sleeper(alive.marker)
    try:
        assert sweep_stale(tmp_path) == [str(dead.workdir)]
        assert _gone(left)
        assert not dead.workdir.exists()
        assert alive.workdir.exists()
        time.sleep(0.2)
        assert kept.poll() is None
        assert psutil.Process(kept.pid).environ()[MARKER] == str(alive.workdir)
    finally:
        alive.run()
    assert _gone(kept)

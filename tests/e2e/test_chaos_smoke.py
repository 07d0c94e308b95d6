"""A CI-sized chaos run: `forecourt chaos` with 1,000 leads and every kind of fault once, on its
own RabbitMQ node and PostgreSQL cluster. Nothing may be lost or duplicated, and nothing of the
run may be left on the machine. A few minutes long: deselect with `-m "not chaos"`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from forecourt_chaos.adapters.cleanup import MARKER
from forecourt_chaos.adapters.rabbit import SCRIPTS
from forecourt_chaos.domain.faults import FaultKind

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(660)]

SEED = 20261201
# Short calm and short faults: the broker's own restarts and rabbitmqctl calls take most of the
# time on a busy 2-core machine (~3.5 minutes in all at a load average of 8).
ARGS = [
    "--leads", "1000", "--rate", "20", "--max-faults", str(len(FaultKind)), "--minutes", "4",
    "--gap", "0.5", "1", "--hold", "0.5", "1.5", "--recovery-wait", "90", "--drain-wait", "90",
    "--seed", str(SEED),
]  # fmt: skip


def _missing() -> str | None:
    if not (SCRIPTS / "rabbitmq-server").exists():
        return f"RabbitMQ's scripts are not in {SCRIPTS} (FORECOURT_CHAOS_RABBITMQ_BIN)"
    if shutil.which("pg_createcluster") is None:
        return "pg_createcluster (postgresql-common) is not installed"
    if os.geteuid() != 0:
        return "pg_createcluster needs root"
    return None


def _explain(summary: dict[str, Any]) -> str:
    keys = ("leads", "problems", "dead_letters", "drain", "exits", "error_samples")
    return json.dumps({k: summary.get(k) for k in keys}, indent=1, default=str)[:8000]


def _ours(process: psutil.Process, workdir: str) -> bool:
    try:
        return bool(process.environ().get(MARKER) == workdir)
    except psutil.Error:
        return False


@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_a_chaos_run_loses_nothing_duplicates_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    forecourt = Path(sys.executable).parent / "forecourt"
    run = subprocess.run(
        [str(forecourt), "chaos", *ARGS, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = list(tmp_path.glob("chaos-*.json"))
    assert found, run.stdout[-5000:] + run.stderr[-5000:]
    summary = json.loads(found[0].read_text())

    faults = summary["faults"]
    assert {f["kind"] for f in faults} == {k.value for k in FaultKind}
    assert [f for f in faults if f["recovery_s"] is None] == []
    leads = summary["leads"]
    assert leads["planned"] == 1000
    # every lead, a probe lead before the faults and one after each
    assert leads["sent"] == 1000 + 1 + len(faults)
    assert set(leads["ways"]) == {"json", "adf", "csv", "amqp", "probe"}
    assert leads["lost"] == 0, _explain(summary)
    assert leads["duplicated"] == 0, _explain(summary)
    assert summary["drain"]["complete"], _explain(summary)
    # The CRM agent qualified and wrote off some of them: the services after crm-queue had
    # work, and it was accounted for (nothing of it lost or duplicated, above).
    assert leads["worked_by_agent"] > 0
    downstream = leads["downstream"]
    assert downstream["assignment prospects"] > 0
    assert downstream["recovery runs"] > 0 and downstream["metrics losses"] > 0
    assert run.returncode == 0, run.stdout[-5000:]

    # Nothing of the run is left: its work folder, its cluster, its processes.
    private = summary["private"]
    assert not Path(private["workdir"]).exists()
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    assert private["postgres_cluster"].split("/")[1] not in clusters
    assert [p.pid for p in psutil.process_iter() if _ours(p, private["workdir"])] == []

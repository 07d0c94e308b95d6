"""Table cells, the memory and CPU rows every benchmark prints, and the JSON results file."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

OTHER_GROUPS = ("postgres", "rabbitmq", "bench", "other")


def get(data: Any, *path: str) -> Any:
    """`data[path[0]][path[1]]...`, or None where a key is missing."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def fmt(value: Any, unit: str = "") -> str:
    """A figure for a cell: thousands separators, 3 significant digits below 10, "-" if None."""
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3g}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def fmt_series(values: Sequence[Any], unit: str = "") -> str:
    return " / ".join(fmt(v) for v in values) + unit


def rss_rows(table: Table, service: str, peaks_mib: Mapping[str, float]) -> None:
    """One row per phase: the service's peak RSS."""
    for phase, mib in peaks_mib.items():
        table.add_row(
            "memory" if phase == "startup" else "",
            f"{service} peak RSS, {phase}",
            fmt(mib, " MiB"),
            "",
        )


def cpu_rows(
    table: Table,
    service: str | Sequence[str],
    cores_by_phase: Mapping[str, Mapping[str, float]],
) -> None:
    """One row per phase: cores the machine used, and by whom (a `CpuMeter` result); `service`
    names the measured service, or several."""
    groups = (*([service] if isinstance(service, str) else service), *OTHER_GROUPS)
    for i, (phase, cores) in enumerate(cores_by_phase.items()):
        busy = ", ".join(f"{k} {cores[k]:g}" for k in groups if k in cores)
        table.add_row(
            "" if i else "cpu",
            f"cores used, {phase}",
            f"{cores['machine']:g} of {cores['of']:g}",
            busy,
        )


def write(results: dict[str, Any], directory: Path, prefix: str) -> Path:
    """`<directory>/<prefix>-<UTC timestamp>.json`."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{prefix}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def run_meta(run_id: str, config: Any) -> dict[str, Any]:
    """The run, its configuration (a dataclass) and the machine, for the results file."""
    load1, load5, _ = os.getloadavg()
    return {
        "run_id": run_id,
        "started_at": datetime.now(UTC).isoformat(),
        "config": {k: str(v) for k, v in dataclasses.asdict(config).items()},
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "python": platform.python_version(),
        "load_avg_at_start": [round(load1, 2), round(load5, 2)],
        "git": _git(),
    }


def _git() -> dict[str, Any]:
    """The commit measured, and the files changed but not committed (they are measured too)."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        try:
            return subprocess.run(  # noqa: S603
                ["git", *args],  # noqa: S607
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "shared", "services").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "uncommitted": changed}


def progress(console: Console) -> Progress:
    """Progress bars: description, bar, done of total, time elapsed."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )

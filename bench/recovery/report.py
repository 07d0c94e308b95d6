"""recovery's figures as a table on the terminal and as JSON under bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import report as common
from bench.common.report import fmt, get

SERVICE = "recovery"
MIB = 1 << 20


def table(results: dict[str, Any]) -> Table:
    meta = results["meta"]
    t = Table(
        title=f"recovery benchmark {meta['run_id']}",
        caption=f"{meta['cpus']} CPUs, load average at start {meta['load_avg_at_start']}",
    )
    for column in ("phase", "measure", "figure", "note"):
        t.add_column(column)
    s = results.get("setup")
    if s:
        t.add_row(
            "setup",
            f"{s['schedules']:,} scheduled follow-ups over {s['tenants']} tenants, "
            f"{s['due']:,} due now (INSERT … SELECT into its table)",
            fmt(s["insert_s"], " s"),
            "",
        )
        per = s["bytes_per_million"]
        t.add_row(
            "",
            "pg_total_relation_size(recovery) per million schedules",
            fmt(per["total"] / MIB, " MiB"),
            f"heap {fmt(per['heap'] / MIB)} MiB, indexes {fmt(per['indexes'] / MIB)} MiB",
        )
    raw = results.get("raw")
    ceiling = get(results, "raw", "fired_per_s")
    if raw:
        t.add_row(
            "raw",
            f"bare SQL: claim {raw['batch']} (SKIP LOCKED), update, 1 outbox row each (ceiling)",
            fmt(ceiling, " fired/s"),
            f"{raw['fired']:,} in {fmt(raw['seconds'])} s",
        )
    f = results.get("fire")
    if f:
        t.add_row(
            "fire",
            f"recovery started with its scanner; {f['due']:,} due at once",
            fmt(f.get("fired_per_s"), " fired/s"),
            f"first → last fired; {fmt(f.get('fired_per_s_from_launch'))}/s from process start",
        )
        if ceiling and f.get("fired_per_s"):
            t.add_row("", "fired/s ÷ raw ceiling", fmt(f["fired_per_s"] / ceiling), "")
        t.add_row(
            "",
            "process start → healthy / all fired / outbox empty",
            f"{fmt(f['launch_to_healthy_s'])} / {fmt(f['all_fired_s_from_launch'])} / "
            f"{fmt(f['outbox_empty_s_from_launch'])} s",
            f"{fmt(f['steps_opened'])} steps opened; runs with fire errors {fmt(f['fire_errors'])}",
        )
        t.add_row("", "recovery CPU per run fired", fmt(f.get("cpu_ms_per_fire"), " ms"), "")
    common.rss_rows(t, SERVICE, results.get("rss_peak_mib") or {})
    common.cpu_rows(t, SERVICE, results.get("cpu_cores") or {})
    return t


def write(results: dict[str, Any], directory: Path) -> Path:
    return common.write(results, directory, "recovery")


def show(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))

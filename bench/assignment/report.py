"""assignment's figures as a table on the terminal and as JSON under bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import report as common
from bench.common.report import fmt, fmt_series, get

SERVICE = "assignment"


def table(results: dict[str, Any]) -> Table:
    meta = results["meta"]
    t = Table(
        title=f"assignment benchmark {meta['run_id']}",
        caption=f"{meta['cpus']} CPUs, load average at start {meta['load_avg_at_start']}",
    )
    for column in ("phase", "measure", "figure", "note"):
        t.add_column(column)
    ceiling = get(results, "raw", "broker", "consumed_per_s")
    if ceiling is not None:
        t.add_row("raw", "broker publish → consumed (ceiling)", fmt(ceiling, " msg/s"), "")
    b = results.get("backlog")
    if b:
        t.add_row(
            "backlog",
            f"{b['events']:,} lead.qualified over {b.get('dealerships')} dealerships, "
            f"{b.get('consultants')} consultants (cap {b.get('cap')}), published while down",
            fmt(b["published_per_s"], " msg/s"),
            f"ready at restart: {fmt(b['ready_before_start'])}",
        )
        d = b.get("drain")
        if d:
            t.add_row(
                "",
                "qualifications handled/s, /healthz → last prospect",
                fmt(d.get("per_s")),
                f"{fmt(d['assigned'])} of {fmt(d['prospects'])} given a consultant; "
                f"{fmt(d.get('per_s_from_launch'))}/s from process start",
            )
            if ceiling and d.get("per_s"):
                t.add_row("", "handled/s ÷ raw ceiling", fmt(d["per_s"] / ceiling), "")
            t.add_row("", "handled/s over each fifth", fmt_series(d["per_s_by_fifth"]), "")
            t.add_row(
                "",
                "assignment CPU per qualification",
                fmt(d.get("cpu_ms_per_assignment"), " ms"),
                f"dead-lettered: {fmt(d.get('dlq_ready'))}",
            )
        f = b.get("fairness")
        if f:
            t.add_row(
                "fairness",
                "max / min load over every consultant",
                fmt(f["max_min_ratio"]),
                f"loads {f['min_load']} to {f['max_load']}; worst dealership "
                f"{fmt(f['worst_dealership_ratio'])}; with an idle consultant "
                f"{f['dealerships_with_idle_consultant']}",
            )
    common.rss_rows(t, SERVICE, results.get("rss_peak_mib") or {})
    common.cpu_rows(t, SERVICE, results.get("cpu_cores") or {})
    return t


def write(results: dict[str, Any], directory: Path) -> Path:
    return common.write(results, directory, "assignment")


def show(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))

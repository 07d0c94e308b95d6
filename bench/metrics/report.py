"""metrics' figures as a table on the terminal and as JSON under bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import report as common
from bench.common.report import fmt, fmt_series, get

SERVICE = "metrics"
MIB = 1 << 20


def _ms(summary: dict[str, Any] | None, *keys: str) -> str:
    if not summary or "status" in summary:
        return f"HTTP {summary.get('status')}" if summary else "-"
    return " / ".join(fmt(summary.get(k)) for k in keys) + " ms"


def table(results: dict[str, Any]) -> Table:
    meta = results["meta"]
    t = Table(
        title=f"metrics benchmark {meta['run_id']}",
        caption=f"{meta['cpus']} CPUs, load average at start {meta['load_avg_at_start']}",
    )
    for column in ("phase", "measure", "figure", "note"):
        t.add_column(column)
    ceiling = get(results, "raw", "broker", "consumed_per_s")
    if ceiling is not None:
        t.add_row("raw", "broker publish → consumed (ceiling)", fmt(ceiling, " msg/s"), "")
    p = results.get("projection")
    if p:
        t.add_row(
            "projection",
            f"{p['events']:,} lead.ingested published while metrics was down, then projected",
            fmt(p.get("per_s"), " events/s"),
            f"/healthz → all logged {fmt(p['all_s_from_healthy'])} s; "
            f"lead facts {fmt(p['lead_facts'])}",
        )
        if ceiling and p.get("per_s"):
            t.add_row("", "events/s ÷ raw ceiling", fmt(p["per_s"] / ceiling), "")
        t.add_row("", "events/s over each fifth", fmt_series(p["per_s_by_fifth"]), "")
        t.add_row("", "metrics CPU per event", fmt(p.get("cpu_ms_per_event"), " ms"), "")
    q = results.get("queries")
    if q:
        s = q["seed"]
        t.add_row(
            "queries",
            f"history: {s['events']:,} events ({s['leads']:,} leads) written into its tables",
            fmt(s["database_bytes"] / MIB, " MiB"),
            f"written in {fmt(s['insert_s'])} s, vacuumed in {fmt(s['vacuum_s'])} s",
        )
        if "rollup_s" in s:
            t.add_row(
                "",
                f"rollups summed from the facts (as the rebuild does): {s['rollup_rows']:,} rows",
                fmt(s["rollup_s"], " s"),
                "",
            )
        t.add_row(
            "",
            "floor: bare count of the year's leads by dealership, p50 / p95",
            _ms(get(q, "floor", "year_scan_ms"), "p50", "p95"),
            "asyncpg, no service",
        )
        for name, summary in q["kpis"].items():
            t.add_row(
                "", f"GET /v1/kpis/{name}, p50 / p95 / max", _ms(summary, "p50", "p95", "max"), ""
            )
    common.rss_rows(t, SERVICE, results.get("rss_peak_mib") or {})
    common.cpu_rows(t, SERVICE, results.get("cpu_cores") or {})
    return t


def write(results: dict[str, Any], directory: Path) -> Path:
    return common.write(results, directory, "metrics")


def show(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))

"""The system's figures as a table on the terminal and as JSON under bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import report as common
from bench.common.report import fmt, fmt_series, get

STAGES = (
    ("http_202_ms", "POST → 202 answered"),
    ("intake_transaction_ms", "POST → intake's transaction began"),
    ("relay_claimed_ms", "POST → relay claimed lead.ingested"),
    ("crm_handled_ms", "POST → crm-queue's handler began (task created_at)"),
)


def _ms(summary: dict[str, Any] | None, *keys: str) -> str:
    if not summary:
        return "-"
    return " / ".join(fmt(summary.get(k)) for k in keys) + " ms"


def _cpu(per_lead: dict[str, float]) -> str:
    return ", ".join(f"{s} {fmt(v)}" for s, v in per_lead.items()) + " ms" if per_lead else "-"


def _stage_rows(t: Table, stages: dict[str, Any]) -> None:
    for key, label in STAGES:
        t.add_row("", f"{label}, p50 / p95 / p99 / max", _ms(stages.get(key), *_P), "")
    if stages.get("without_task"):
        t.add_row("", "accepted leads without a task", fmt(stages["without_task"]), "")


_P = ("p50", "p95", "p99", "max")


def _steady_rows(t: Table, s: dict[str, Any]) -> None:
    http, q, f = s["http"], s["queue"], s["funnel"]
    t.add_row(
        "steady",
        f"{s['leads']:,} leads at {s['offered_per_s']:g}/s (open loop), "
        f"every {s['leads'] // max(q['sampled'], 1)}th to a dealership of its own",
        fmt(http["posted_per_s"], " posted/s"),
        f"statuses {http['statuses']}",
    )
    t.add_row(
        "",
        "POST → task in GET /v1/queue, p50 / p95 / p99 / max",
        _ms(q["visible_ms"], *_P),
        f"{q['seen']} of {q['sampled']} seen; aim p99 < 300 ms at 50/s",
    )
    t.add_row(
        "",
        "POST → the GET that showed it was sent, p50 / p95 / p99 / max",
        _ms(q["visible_get_sent_ms"], *_P),
        f"GET /v1/queue every {fmt(q['poll_ms'])} ms: {fmt(q['gets'])} GETs",
    )
    _stage_rows(t, s["stages"])
    t.add_row(
        "",
        "first POST → every task and every count in metrics",
        fmt(f["funnel_s"], " s"),
        f"{fmt(f['funnel_per_s'])} leads/s",
    )
    t.add_row("", "CPU per lead", _cpu(s["cpu_ms_per_lead"]), "")


def _saturation_rows(t: Table, s: dict[str, Any], ceiling: float | None) -> None:
    http, f = s["http"], s["funnel"]
    t.add_row(
        "saturation",
        f"{s['leads']:,} leads, {s['concurrency']} POSTs in flight (closed loop)",
        fmt(http["accepted_per_s"], " accepted/s"),
        f"statuses {http['statuses']}",
    )
    t.add_row(
        "",
        "leads/s through the funnel (first POST → every task and count)",
        fmt(f["funnel_per_s"]),
        f"all after {fmt(f['funnel_s'])} s ({f['outcome']})",
    )
    if ceiling and f["funnel_per_s"] is not None:
        t.add_row("", "funnel leads/s ÷ raw ceiling", fmt(f["funnel_per_s"] / ceiling), "")
    t.add_row(
        "",
        "tasks/s / counted/s, first POST → last",
        f"{fmt(f['tasks_per_s'])} / {fmt(f['counted_per_s'])}",
        "",
    )
    t.add_row("", "tasks/s over each fifth", fmt_series(f["tasks_per_s_by_fifth"]), "")
    t.add_row("", "counted/s over each fifth", fmt_series(f["counted_per_s_by_fifth"]), "")
    _stage_rows(t, s["stages"])
    t.add_row("", "CPU per lead", _cpu(s["cpu_ms_per_lead"]), "")


def table(results: dict[str, Any]) -> Table:
    meta = results["meta"]
    t = Table(
        title=f"system benchmark {meta['run_id']}: intake, crm-queue, assignment, recovery, "
        "metrics as processes",
        caption=f"{meta['cpus']} CPUs, load average at start {meta['load_avg_at_start']}; "
        "cpu 'other' = processes outside this benchmark and its services, kernel time, and "
        "processes that exited during the phase",
    )
    for column in ("phase", "measure", "figure", "note"):
        t.add_column(column)
    ceiling = get(results, "raw", "broker", "consumed_per_s")
    if ceiling is not None:
        t.add_row("raw", "publish → consumed (ceiling)", fmt(ceiling, " msg/s"), "")
    healthy = results.get("healthy_after_s")
    if healthy:
        t.add_row(
            "start",
            "launch → /healthz, s",
            ", ".join(f"{n} {fmt(v)}" for n, v in healthy.items()),
            "",
        )
    if "steady" in results:
        _steady_rows(t, results["steady"])
    if "saturation" in results:
        _saturation_rows(t, results["saturation"], ceiling)
    if "dead_letters" in results:
        logs = results.get("logs") or {}
        errors = {n: get(c, "errors") for n, c in logs.items() if get(c, "errors")}
        t.add_row(
            "health",
            "dead letters / ERROR lines in the logs",
            f"{sum(results['dead_letters'].values())} / {sum(errors.values())}",
            f"{results['dead_letters'] or ''} {errors or ''}".strip(),
        )
    for service, peaks in (results.get("rss_peak_mib") or {}).items():
        t.add_row(
            "memory" if service == "intake" else "",
            f"{service} peak RSS, " + " / ".join(peaks),
            " / ".join(fmt(v) for v in peaks.values()) + " MiB",
            "",
        )
    services = list(results.get("rss_peak_mib") or {})
    common.cpu_rows(t, services, results.get("cpu_cores") or {})
    return t


def write(results: dict[str, Any], directory: Path) -> Path:
    return common.write(results, directory, "system")


def show(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))

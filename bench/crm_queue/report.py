"""crm-queue's figures as a table on the terminal and as JSON under bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import report as common
from bench.common.report import fmt, fmt_series, get

SERVICE = "crm-queue"


def _ms(summary: dict[str, Any] | None, *keys: str) -> str:
    if not summary:
        return "-"
    return " / ".join(fmt(summary.get(k)) for k in keys) + " ms"


def _backlog_rows(t: Table, b: dict[str, Any]) -> None:
    d = b["drain"]
    t.add_row(
        "backlog",
        f"{b['events']:,} lead.ingested over {b['dealerships']} dealerships, published (confirms, "
        f"{b['in_flight']} in flight) while crm-queue was down",
        fmt(b["published_per_s"], " msg/s"),
        f"ready in its queue at restart: {fmt(b['ready_before_start'])}",
    )
    t.add_row(
        "",
        "restart → /healthz",
        fmt(d["launch_to_healthy_s"], " s"),
        f"{fmt(d['tasks_at_healthy'])} tasks by then",
    )
    total_note = (
        f"all {b['events']:,} after {fmt(d['all_tasks_s'])} s"
        if d["outcome"] == "done"
        else f"{d['outcome'].upper()}: {d['tasks_created']:,} of {b['events']:,} tasks"
    )
    t.add_row("", "tasks created/s, /healthz → last task", fmt(d["tasks_per_s"]), total_note)
    t.add_row(
        "", "tasks created/s, process start → last task", fmt(d["tasks_per_s_from_launch"]), ""
    )
    t.add_row("", "tasks/s over each fifth", fmt_series(d["tasks_per_s_by_fifth"]), "")
    t.add_row(
        "",
        "ready in queue / outbox pending as each fifth was reached",
        fmt_series([f["ready_in_queue"] for f in d["fifths"]]),
        "outbox " + fmt_series([f["outbox_pending"] for f in d["fifths"]]),
    )
    t.add_row(
        "",
        "queue empty / last task / outbox caught up, s after /healthz",
        f"{fmt(d['queue_empty_s'])} / {fmt(d['all_tasks_s'])} / {fmt(d['outbox_caught_up_s'])}",
        "",
    )
    if b.get("crm_cpu_ms_per_task") is not None:
        t.add_row(
            "",
            "crm-queue CPU per task",
            fmt(b["crm_cpu_ms_per_task"], " ms"),
            f"→ ≤ {fmt(b.get('one_core_tasks_per_s'))} tasks/s on one core",
        )
    t.add_row(
        "",
        "dead-letter queue / handler retries / errors in its log",
        f"{fmt(b.get('dlq_ready'))} / {fmt(get(b, 'log', 'retries'))} / "
        f"{fmt(get(b, 'log', 'errors'))}",
        "",
    )


def _latency_rows(t: Table, lat: dict[str, Any]) -> None:
    offered = lat["offered_per_s"]
    t.add_row(
        "latency",
        f"{lat['events']:,} lead.ingested at {offered:g}/s, idle service, "
        f"GET /v1/leads/{{id}} every {lat['poll_ms']:g} ms",
        fmt(lat["published_per_s"], " published/s"),
        f"statuses {lat['statuses']}",
    )
    t.add_row(
        "",
        "confirm → task visible, p50 / p95 / p99 / max",
        _ms(lat["visible_ms"], "p50", "p95", "p99", "max"),
        f"never visible: {lat['never_visible']}" if lat["never_visible"] else "",
    )
    t.add_row(
        "",
        "confirm → the GET that saw it was sent, p50 / p95 / p99 / max",
        _ms(lat.get("visible_get_sent_ms"), "p50", "p95", "p99", "max"),
        "the task was committed between the 404 before and the 200",
    )
    t.add_row(
        "",
        "publish → task visible, p50 / p99",
        _ms(lat["visible_from_publish_ms"], "p50", "p99"),
        "",
    )
    t.add_row("", "publisher confirm, p50 / p99", _ms(lat["confirm_ms"], "p50", "p99"), "")
    t.add_row(
        "",
        "round trip of the GET that saw it, p50 / p99",
        _ms(lat["last_get_ms"], "p50", "p99"),
        f"{fmt(lat['polls_per_event'])} GETs per event",
    )
    t.add_row(
        "",
        "sampled leads in GET /v1/queue (agent of their own dealership)",
        f"{lat['queue_found']} of {lat['queue_sampled']}",
        "confirm → seen in queue p50 / max " + _ms(lat["queue_ms"], "p50", "max"),
    )


def table(results: dict[str, Any]) -> Table:
    meta = results["meta"]
    t = Table(
        title=f"crm-queue benchmark {meta['run_id']}",
        caption=f"{meta['cpus']} CPUs, load average at start {meta['load_avg_at_start']}; "
        "cpu 'other' = processes outside this benchmark and its services, kernel time, and "
        "processes that exited during the phase",
    )
    for column in ("phase", "measure", "figure", "note"):
        t.add_column(column)
    ceiling = get(results, "raw", "broker", "consumed_per_s")
    if ceiling is not None:
        t.add_row("raw", "publish → consumed (ceiling)", fmt(ceiling, " msg/s"), "")
    if "backlog" in results:
        _backlog_rows(t, results["backlog"])
        tasks_per_s = get(results, "backlog", "drain", "tasks_per_s")
        if ceiling and tasks_per_s is not None:
            t.add_row("", "tasks/s ÷ raw ceiling", fmt(tasks_per_s / ceiling), "aim ≥ 0.3")
    if "latency" in results:
        _latency_rows(t, results["latency"])
    common.rss_rows(t, SERVICE, results.get("rss_peak_mib") or {})
    common.cpu_rows(t, SERVICE, results.get("cpu_cores") or {})
    return t


def write(results: dict[str, Any], directory: Path) -> Path:
    return common.write(results, directory, "crm_queue")


def show(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))

"""The figures as a table on the terminal and as JSON under bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import report as common
from bench.common.report import fmt as _fmt
from bench.common.report import get as _get

AIM_BULK_RATIO = 0.45  # issue 11: bulk rows/s (to the last event) ÷ the raw broker ceiling
AIM_JSON_LEADS_PER_S = 800.0
AIM_P99_INGESTED_MS = 100.0


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    ceiling = _get(results, "raw", "broker", "consumed_per_s")
    bulk_events = _get(results, "bulk", "rows_per_s_events")
    return {
        "bulk_rows_per_s_over_broker_msgs_per_s": _ratio(bulk_events, ceiling),
        "bulk_job_rows_per_s_over_broker_msgs_per_s": _ratio(
            _get(results, "bulk", "rows_per_s_job"), ceiling
        ),
        "json_leads_per_s_over_aim": _ratio(
            _get(results, "json", "saturated", "leads_per_s"), AIM_JSON_LEADS_PER_S
        ),
        "aims": {
            "bulk_ratio": AIM_BULK_RATIO,
            "json_leads_per_s": AIM_JSON_LEADS_PER_S,
            "p99_post_to_ingested_ms": AIM_P99_INGESTED_MS,
        },
    }


def _verdict(value: float | None, aim: float, higher_is_better: bool = True) -> str:
    if value is None:
        return ""
    ok = value >= aim if higher_is_better else value < aim
    return f"{'meets' if ok else 'misses'} aim {'≥' if higher_is_better else '<'} {aim:g}"


def _raw_rows(table: Table, r: dict[str, Any]) -> None:
    b, pg = r.get("broker"), r.get("pg")
    if b:
        n, size = b["messages"], b["body_bytes"]
        table.add_row(
            "raw broker",
            f"publish+confirm, {n:,} x {size} B, quorum",
            _fmt(b["confirmed_per_s"], " msg/s"),
            "",
        )
        table.add_row("", "publish → consumed (ceiling)", _fmt(b["consumed_per_s"], " msg/s"), "")
    if pg:
        table.add_row(
            "raw postgres",
            f"COPY {pg['copy_rows']:,} rows x {pg['columns']} cols",
            _fmt(pg["copy_rows_per_s"], " rows/s"),
            "",
        )
        table.add_row(
            "",
            f"executemany {pg['executemany_rows']:,} rows",
            _fmt(pg["executemany_rows_per_s"], " rows/s"),
            "",
        )


def _json_rows(table: Table, name: str, j: dict[str, Any], aims: bool) -> None:
    h, e = j["http_ms"], j["ingested_ms"]
    table.add_row(name, j["mode"] + f", {j['requests']:,} leads, statuses {j['statuses']}", "", "")
    offered = j.get("offered_per_s")
    if aims:
        note = _verdict(j["leads_per_s"], AIM_JSON_LEADS_PER_S)
    elif offered and j["leads_per_s"] < 0.9 * offered:
        note = f"OVERLOADED: {offered:g}/s offered"
    else:
        note = ""
    table.add_row("", "leads/s (202s)", _fmt(j["leads_per_s"]), note)
    if j.get("intake_cpu_ms_per_lead") is not None:
        table.add_row("", "intake CPU per lead", _fmt(j["intake_cpu_ms_per_lead"], " ms"), "")
    table.add_row(
        "", "HTTP p50 / p95 / p99", f"{_fmt(h['p50'])} / {_fmt(h['p95'])} / {_fmt(h['p99'])} ms", ""
    )
    table.add_row(
        "",
        "POST → lead.ingested p50 / p95 / p99",
        f"{_fmt(e['p50'])} / {_fmt(e['p95'])} / {_fmt(e['p99'])} ms",
        _verdict(e["p99"], AIM_P99_INGESTED_MS, higher_is_better=False),
    )
    if lag := j.get("relay_lag_ms"):
        table.add_row(
            "",
            "outbox commit → broker confirm p50 / p95 / p99",
            f"{_fmt(lag['p50'])} / {_fmt(lag['p95'])} / {_fmt(lag['p99'])} ms",
            "",
        )
    if j["events_missing"]:
        table.add_row("", "lead.ingested never seen", _fmt(j["events_missing"]), "")


def _bulk_rows(table: Table, b: dict[str, Any], ratio: float | None, ceiling: float | None) -> None:
    table.add_row(
        "bulk CSV",
        f"{b['rows']:,} rows, {b['megabytes']} MB, "
        f"{b['duplicates_generated']:,} duplicates; job {b['status']}",
        "",
        "",
    )
    table.add_row(
        "",
        f"upload {b['upload_s']} s; job done at {b['job_done_s']} s",
        _fmt(b["rows_per_s_job"], " rows/s"),
        "",
    )
    lag = round(b["last_event_s"] - b["job_done_s"], 2) if b["last_event_s"] else None
    table.add_row(
        "",
        f"last event at {b['last_event_s']} s",
        _fmt(b["rows_per_s_events"], " rows/s"),
        f"relay {lag} s behind the job" if lag and lag > 0 else "",
    )
    fifths = " / ".join(_fmt(v) for v in b.get("rows_per_s_by_fifth") or [])
    table.add_row("", "rows/s over each fifth of the file", fifths, "")
    if b.get("intake_cpu_ms_per_row") is not None:
        split = ""
        if b.get("intake_main_cpu_ms_per_row") is not None:
            split = (
                f"main process {_fmt(b['intake_main_cpu_ms_per_row'])} ms + children (relay) "
                f"{_fmt(b['intake_children_cpu_ms_per_row'])} ms"
            )
        table.add_row("", "intake CPU per row", _fmt(b["intake_cpu_ms_per_row"], " ms"), split)
    total = b["accepted"] + b["merged"] + b["rejected"] or 1
    table.add_row(
        "",
        "ingested / merged / rejected",
        f"{b['accepted']:,} / {b['merged']:,} / {b['rejected']:,}",
        f"{b['accepted'] / total:.0%} / {b['merged'] / total:.0%}",
    )
    ev = b["events"]
    table.add_row(
        "",
        "events ingested / duplicate / rejected",
        f"{ev['lead.ingested']:,} / {ev['lead.duplicate']:,} / {ev['lead.rejected']:,}",
        "" if b["events_complete"] else "INCOMPLETE",
    )
    table.add_row(
        "",
        f"bulk rows/s (to the last event) ÷ broker ceiling ({_fmt(ceiling, ' msg/s')})",
        _fmt(ratio),
        _verdict(ratio, AIM_BULK_RATIO),
    )


def table(results: dict[str, Any]) -> Table:
    meta = results["meta"]
    t = Table(
        title=f"intake benchmark {meta['run_id']}",
        caption=f"{meta['cpus']} CPUs, load average at start {meta['load_avg_at_start']}; "
        "cpu 'other' = processes outside this benchmark and its services, kernel time, and "
        "processes that exited during the phase",
    )
    for column in ("phase", "measure", "figure", "note"):
        t.add_column(column)
    if "raw" in results:
        _raw_rows(t, results["raw"])
    if "json" in results:
        if "saturated" in results["json"]:
            _json_rows(t, "JSON saturated", results["json"]["saturated"], True)
        if "steady" in results["json"]:
            _json_rows(t, "JSON steady", results["json"]["steady"], False)
    if "bulk" in results:
        _bulk_rows(
            t,
            results["bulk"],
            results["ratios"]["bulk_rows_per_s_over_broker_msgs_per_s"],
            _get(results, "raw", "broker", "consumed_per_s"),
        )
    common.rss_rows(t, "intake", results.get("rss_peak_mib") or {})
    common.cpu_rows(t, "intake", results.get("cpu_cores") or {})
    return t


def write(results: dict[str, Any], directory: Path) -> Path:
    return common.write(results, directory, "intake")


def show(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))

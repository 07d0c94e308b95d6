"""intake-smtp's figures as a table on the terminal and as JSON under bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import report as common
from bench.common.report import fmt, get

SERVICE = "intake-smtp"


def _ms(summary: dict[str, Any] | None, *keys: str) -> str:
    if not summary:
        return "-"
    return " / ".join(fmt(summary.get(k)) for k in keys) + " ms"


def table(results: dict[str, Any]) -> Table:
    meta = results["meta"]
    t = Table(
        title=f"intake e-mail benchmark {meta['run_id']}",
        caption=f"{meta['cpus']} CPUs, load average at start {meta['load_avg_at_start']}",
    )
    for column in ("phase", "measure", "figure", "note"):
        t.add_column(column)
    sink = results.get("sink")
    ceiling = get(results, "sink", "accepted_per_s")
    if sink:
        t.add_row(
            "raw",
            f"{sink['messages']:,} messages to a bare aiosmtpd sink (ceiling)",
            fmt(ceiling, " msg/s"),
            "DATA end → 250 p50 / p99 " + _ms(sink["data_end_to_250_ms"], "p50", "p99"),
        )
    s = results.get("smtp")
    if s:
        t.add_row(
            "smtp",
            f"{s['messages']:,} lead e-mails (ADF body) accepted by forecourt-intake-smtp",
            fmt(s["accepted_per_s"], " msg/s"),
            f"errors {s['errors']}; listener up in {fmt(results.get('listener_start_s'))} s",
        )
        if ceiling and s["accepted_per_s"]:
            t.add_row("", "accepted/s ÷ raw ceiling", fmt(s["accepted_per_s"] / ceiling), "")
        t.add_row(
            "",
            "DATA end → 250, p50 / p95 / p99 / max",
            _ms(s["data_end_to_250_ms"], "p50", "p95", "p99", "max"),
            "stored raw, read and ingested before 250",
        )
        t.add_row(
            "",
            "DATA end → lead.ingested on RabbitMQ, p50 / p95 / p99 / max",
            _ms(s["data_end_to_ingested_ms"], "p50", "p95", "p99", "max"),
            f"{s['ingested']:,} of {s['messages']:,} seen"
            + ("" if s["complete"] else " (TIMED OUT)"),
        )
        t.add_row("", "lead.ingested/s, first MAIL → last event", fmt(s["ingested_per_s"]), "")
        t.add_row(
            "",
            "intake-smtp CPU per message",
            fmt(s.get("cpu_ms_per_message"), " ms"),
            f"warnings / errors in its log: {s['log_warnings']} / {s['log_errors']}",
        )
    common.rss_rows(t, SERVICE, results.get("rss_peak_mib") or {})
    common.cpu_rows(t, SERVICE, results.get("cpu_cores") or {})
    return t


def write(results: dict[str, Any], directory: Path) -> Path:
    return common.write(results, directory, "intake_email")


def show(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))

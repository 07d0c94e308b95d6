"""The summary of a run: rich tables for people, a JSON file for the record."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from forecourt_chaos import repo
from forecourt_chaos.adapters.services import Exit
from forecourt_chaos.service_layer.injector import FaultRecord
from forecourt_chaos.service_layer.session import Result

repo.importable()
from bench.common.stats import percentile  # noqa: E402

EXAMPLES = 3  # problems shown per stage


def _join(counts: Mapping[str, int], sep: str = " ") -> str:
    return ", ".join(f"{k}{sep}{v}" for k, v in counts.items())


def _key(key: Any) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def recovery(records: list[FaultRecord]) -> dict[str, Any]:
    times = [r.recovery_s for r in records if r.recovery_s is not None]
    intake = [r.intake_s for r in records if r.intake_s is not None]
    return {
        "faults": len(records),
        "recovered": len(times),
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "max": max(times) if times else None,
        "intake_max": max(intake) if intake else None,
    }


def _leads(result: Result) -> Table:
    a = result.accounting
    table = Table(title="Leads", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    indeterminate = a.acks.get("indeterminate", 0)
    rows = [
        ("planned", result.planned),
        ("sent (with probes)", a.sent),
        ("  acknowledged", a.acks.get("ok", 0)),
        ("  indeterminate", f"{indeterminate} ({a.indeterminate_recorded} recorded)"),
        ("  refused (4xx)", a.acks.get("failed", 0)),
        ("  by way in", ", ".join(f"{w} {n}" for w, n in sorted(a.ways.items()))),
        ("intake leads / merges", f"{a.leads} / {a.merges}"),
        ("worked by the CRM agent", result.worked),
        ("  after crm-queue", ", ".join(f"{k} {n}" for k, n in a.downstream.items()) or "-"),
        ("[bold]lost[/bold]", a.lost),
        ("[bold]duplicated[/bold]", a.duplicated),
        ("unexpected", a.unexpected),
        ("dead-lettered", sum(a.dead_letters.values())),
    ]
    for what, count in rows:
        table.add_row(what, str(count))
    return table


def _problems(result: Result) -> Table | None:
    a = result.accounting
    if not a.problems and not a.dead_letters:
        return None
    table = Table(title="Problems by stage", show_header=True)
    for column in ("kind", "stage", "count", "examples"):
        table.add_column(column)
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in a.problems:
        shown = examples[(p.kind, p.stage)]
        if len(shown) < EXAMPLES:
            shown.append(f"{p.subject} {p.detail}".strip())
    for (kind, stage), count in sorted(a.by_stage().items()):
        table.add_row(kind, stage, str(count), "\n".join(examples[(kind, stage)]))
    for queue, count in sorted(a.dead_letters.items()):
        letters = result.readback.observed.dead_letters
        reasons = Counter(d.reason for d in letters if d.queue == queue)
        table.add_row("dead letters", queue, str(count), _join(reasons, " x"))
    return table


def _faults(result: Result) -> Table | None:
    if not result.faults:
        return None
    table = Table(title="Faults and recovery (heal -> probe lead in crm-queue)", show_header=True)
    columns = ("kind", "count", "p50", "p95", "max", "of it intake", "not recovered", "errors")
    for column in columns:
        table.add_column(column, justify="right" if column != "kind" else "left")
    by_kind: dict[str, list[FaultRecord]] = defaultdict(list)
    for record in result.faults:
        by_kind[record.kind.value].append(record)
    for kind, records in [*sorted(by_kind.items()), ("all", result.faults)]:
        r = recovery(records)
        errors = sum(1 for x in records if x.error)
        table.add_row(
            f"[bold]{kind}[/bold]" if kind == "all" else kind,
            str(r["faults"]),
            _s(r["p50"]),
            _s(r["p95"]),
            _s(r["max"]),
            _s(r["intake_max"]),
            str(r["faults"] - r["recovered"]),
            str(errors),
        )
    return table


def _answers(result: Result) -> Table:
    table = Table(title="What the clients were answered (every attempt)", show_header=True)
    table.add_column("way in")
    table.add_column("answers")
    by_way: dict[str, list[str]] = defaultdict(list)
    for (way, label), n in sorted(result.tally.attempts.items()):
        by_way[way].append(f"{label} x{n}")
    for way, labels in sorted(by_way.items()):
        table.add_row(way, ", ".join(labels))
    return table


def _spread(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values, default=None),
    }


def _lags(lags: Mapping[str, list[float]]) -> str:
    shown = []
    for service, values in lags.items():
        if values:
            p50, p95 = percentile(values, 50), percentile(values, 95)
            shown.append(f"{service} p50 {_s(p50)} p95 {_s(p95)} max {_s(max(values))}")
    return ", ".join(shown) or "-"


def _exits(exits: list[Exit]) -> str:
    return ", ".join(f"{e.replica} {e.when} (exit code {e.code})" for e in exits) or "none"


def _run(result: Result) -> Table:
    table = Table(title="Run", show_header=True)
    table.add_column("what")
    table.add_column("value")
    drain = f"{result.drain.seconds:.1f}s" + ("" if result.drain.complete else " (incomplete)")
    peaks, exits = result.peaks_mib, result.exits
    rows = [
        ("seed", str(result.seed)),
        ("baseline (probe lead end to end, no fault)", _s(result.baseline_s)),
        ("phases", ", ".join(f"{k} {v:.0f}s" for k, v in result.phases_s.items())),
        ("drain", drain),
        ("peak RSS per replica", ", ".join(f"{k} {v:.0f} MiB" for k, v in peaks.items())),
        ("exited by themselves", _exits(exits)),
        ("bulk jobs", _join(result.readback.bulk_jobs) or "none"),
        ("raw payloads", _join(result.readback.raw_payloads)),
        ("relay lag (commit -> confirm)", _lags(result.readback.relay_lag_s)),
    ]
    for service, found in result.readback.log_signals.items():
        rows.append((f"{service} logs", _join(found, " x")))
    if result.harness_errors:
        rows.append(
            (
                "[red]harness errors (leads counted indeterminate)[/red]",
                _join(result.harness_errors, " x"),
            )
        )
    orphans = [o for f in result.faults for o in f.orphans]
    if orphans:
        rows.append(("processes outliving a killed service", ", ".join(orphans)))
    if not result.drain.complete:
        rows.append(("left undrained", _join(result.drain.left)))
    for what, value in rows:
        table.add_row(what, value)
    return table


def _trends(result: Result) -> Table | None:
    if not result.trends:
        return None
    table = Table(title="Soak: growth over the second half (least squares)", show_header=True)
    for column in ("metric", "first", "last", "per minute", "limit", "verdict"):
        table.add_column(column)
    for t in result.trends:
        slope = "-" if t.per_minute is None else f"{t.per_minute:+.2f}"
        verdict = "flat" if t.per_minute is not None else "too few samples"
        verdict = "[red]growing[/red]" if t.growing else verdict
        table.add_row(t.metric, f"{t.first:g}", f"{t.last:g}", slope, f"{t.limit:g}", verdict)
    return table


def render(result: Result, console: Console) -> None:
    tables = (_leads, _problems, _faults, _trends, _answers, _run)
    for table in (make(result) for make in tables):
        if table is not None:
            console.print(table)
    a = result.accounting
    if result.passed:
        verdict = "nothing lost, nothing duplicated"
        console.print(f"[bold green]PASS[/bold green]: {verdict} (seed {result.seed})")
    else:
        why = []
        if a.lost or a.duplicated:
            why.append(f"{a.lost} lost, {a.duplicated} duplicated")
        if not result.drain.complete:
            why.append("the drain did not finish")
        if any(t.growing for t in result.trends):
            why.append("steady growth: " + ", ".join(t.metric for t in result.trends if t.growing))
        console.print(f"[bold red]FAIL[/bold red]: {'; '.join(why)} (seed {result.seed})")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def write(result: Result, out: Path, command: str, config: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{command}-{result.run_id}.json"
    a = result.accounting
    data = {
        "command": command,
        "config": _plain(config),
        "passed": result.passed,
        "seed": result.seed,
        "run_id": result.run_id,
        "private": result.private,
        "leads": {
            "planned": result.planned,
            "sent": a.sent,
            "acks": dict(a.acks),
            "ways": dict(a.ways),
            "indeterminate_recorded": a.indeterminate_recorded,
            "intake_leads": a.leads,
            "merges": a.merges,
            "lost": a.lost,
            "duplicated": a.duplicated,
            "unexpected": a.unexpected,
            "dead_letters": dict(a.dead_letters),
            "worked_by_agent": result.worked,
            "downstream": dict(a.downstream),
        },
        "problems": _plain(a.problems),
        "dead_letters": _plain(result.readback.observed.dead_letters),
        "faults": [
            _plain(f) | {"kind": f.kind.value, "recovery_s": f.recovery_s, "intake_s": f.intake_s}
            for f in result.faults
        ],
        "recovery": recovery(result.faults),
        "baseline_s": result.baseline_s,
        "harness_errors": result.harness_errors,
        "answers": _plain(result.tally.attempts),
        "error_samples": _plain(result.tally.samples),
        "drain": _plain(result.drain),
        "peak_rss_mib": result.peaks_mib,
        "exits": _plain(result.exits),
        "phases_s": result.phases_s,
        "bulk_jobs": result.readback.bulk_jobs,
        "raw_payloads": result.readback.raw_payloads,
        "relay_lag_s": {s: _spread(v) for s, v in result.readback.relay_lag_s.items()},
        "log_signals": result.readback.log_signals,
        "queues_at_end": result.readback.queues,
        "samples": _plain(result.samples),
        "trends": _plain(result.trends),
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path

"""What `forecourt simulate` prints at the end: the KPIs from the metrics API beside the
simulation's own count, line by line, what it did, and where the dashboard is."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from forecourt_chaos.service_layer.simulate import SimResult


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render(result: SimResult, console: Console, *, stay: bool) -> None:
    c = result.config
    console.print(
        f"\n[bold]Simulated[/bold] {c.days} days from {c.start} (seed {c.seed}) in "
        f"{result.seconds:.0f} s"
    )
    did = Table(title="What the simulation did", show_edge=False)
    did.add_column("action")
    did.add_column("count", justify="right")
    for kind, n in sorted(result.truth.actions.items()):
        did.add_row(kind, str(n))
    console.print(did)
    kpis = Table(
        title="KPIs: the metrics API beside the simulation's ground truth", show_edge=False
    )
    for name, justify in (("report", "left"), ("KPI", "left"), ("metrics", "right"),
                          ("ground truth", "right"), ("", "center")):  # fmt: skip
        kpis.add_column(name, justify=justify)  # type: ignore[arg-type]
    last = ""
    for line in result.lines:
        mark = "[green]=[/green]" if line.equal else "[red]≠[/red]"
        kpis.add_row(
            line.report if line.report != last else "",
            line.name,
            _show(line.measured),
            _show(line.expected),
            mark,
        )
        last = line.report
    console.print(kpis)
    for problem in result.problems[:20]:
        console.print(f"[red]problem:[/red] {problem}")
    if len(result.problems) > 20:
        console.print(f"[red]... and {len(result.problems) - 20} more problems[/red]")
    if result.passed:
        console.print(
            f"[green]every KPI equals the ground truth ({len(result.lines)} lines)[/green]"
        )
    else:
        console.print(
            f"[red]{len(result.mismatches)} KPI lines differ, {len(result.problems)} problems"
            f"{'' if result.settled else ' (metrics had not caught up)'}[/red]"
        )
    console.print(f"dashboard: {result.dashboard}")
    if stay:
        console.print(
            "  paste this admin token there (the services stay up until Ctrl-C):\n"
            f"  {result.admin_token}"
        )
    else:
        console.print("  (the services stop now: run with --stay to keep them up and look at it)")

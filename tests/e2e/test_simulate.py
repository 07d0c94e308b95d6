"""The whole system end to end: the five services as OS processes on the real broker and
database (databases and a namespace of their own, removed afterwards), driven by
`forecourt simulate`'s code through every path of the funnel on its compressed clock: 400
enquiries over eight simulated days (a weekend and the spring-forward night among them) with
duplicates, returning customers, test and invalid leads; attempts, qualifications and every
lost reason a CRM agent may choose (persistence minimum respected); sales and lost prospects;
recovery's follow-ups reactivating leads that are then sold. The metrics API must give exactly
the simulation's ground truth: funnel, lost reasons by code, recovery, and every source's
duplicates, pollution and costs.

The size is what a loaded 2-core machine runs in about four minutes (measured: 200 s at load
average 10-11, five services starting included); `forecourt simulate` runs any size (the
default group, 3,000 enquiries over 28 days, in docs/simulate.md). The run bounds itself
(`BUDGET_S`): past it, it is cancelled, the services are stopped and their databases and
queues removed, and the failure says which simulated day it had reached, with the tail of each
service's log (read before they are removed)."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path

import pytest

from forecourt_chaos.adapters.local_system import LocalSystem, clock_file
from forecourt_chaos.domain.dealer_group import GroupShape
from forecourt_chaos.domain.stories import CRM_FATES
from forecourt_chaos.service_layer.simulate import SimConfig, SimResult, Simulation, default_env

# A hang guard, not a timing assertion: past it the run is cancelled and cleaned up.
BUDGET_S = 540.0
pytestmark = [pytest.mark.e2e, pytest.mark.processes, pytest.mark.timeout(BUDGET_S + 120)]

CONFIG = SimConfig(
    seed=17,
    leads=400,
    days=8,
    start=date(2026, 3, 2),  # a Monday; Sunday 8 March is the spring-forward night in Toronto
    shape=GroupShape(dealerships=4, sources=15, agents=8, consultants=12),
    concurrency=16,
)


def _logs(tails: dict[str, str]) -> str:
    return "\n".join(f"--- {name} (log tail) ---\n{tail}" for name, tail in tails.items() if tail)


async def test_the_kpis_of_a_simulated_dealer_group_are_its_ground_truth(
    pg_server_url: str, amqp_url: str, tmp_path: Path
) -> None:
    system = LocalSystem.fresh("e2esim", pg_server_url=pg_server_url, amqp_url=amqp_url)
    path = clock_file(tmp_path, system.tag)
    system.env = default_env(path)
    reached = {"days": 0}
    started = time.monotonic()

    def progress(task: str, done: int, _total: int | None) -> None:
        if task == "days":
            reached["days"] = done

    result: SimResult | None = None
    simulation: Simulation | None = None
    tails: dict[str, str] = {}
    try:
        async with asyncio.timeout(BUDGET_S):
            await system.start()
            simulation = Simulation(CONFIG, system, path, progress=progress)
            result = await simulation.run()
    except TimeoutError:
        pass
    finally:
        tails = system.log_tails(30)  # stop() removes the log files
        await system.stop()

    if result is None:
        problems = simulation.problems[:10] if simulation else []
        pytest.fail(
            f"not done in {BUDGET_S:.0f} s: {reached['days']} of {CONFIG.days} simulated days "
            f"({time.monotonic() - started:.0f} s); problems so far: {problems}\n{_logs(tails)}"
        )
    assert result.problems == [], f"{result.problems[:20]}\n{_logs(tails)}"
    mismatches = [line for line in result.lines if not line.equal]
    assert mismatches == [], f"metrics differ (settled: {result.settled})\n{_logs(tails)}"
    truth = result.truth
    # Every path of the funnel was taken.
    assert truth.rejected and truth.duplicates and truth.returning
    assert truth.prospects and truth.sales
    lead_codes = {code for (_, code), (leads, _) in truth.losses.items() if leads}
    assert lead_codes >= {fate for fate, _ in CRM_FATES if "." in fate} | {"pollution.no_phone"}
    assert any(prospects for (_, prospects) in truth.losses.values())
    assert truth.reactivated and truth.sales_from_reactivated, "reactivation to a won sale"
    assert truth.bought_elsewhere and truth.dead

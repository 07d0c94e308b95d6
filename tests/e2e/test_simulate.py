"""The whole system end to end: the five services as OS processes on the real broker and
database (databases and a namespace of their own, removed afterwards), driven by
`forecourt simulate`'s code through every path of the funnel on its compressed clock: 2,000
enquiries over two simulated weeks with duplicates, returning customers, test and invalid
leads; attempts, qualifications and every lost reason a CRM agent may choose (persistence
minimum respected);
sales and lost prospects; recovery's follow-ups reactivating leads that are then sold. The
metrics API must give exactly the simulation's ground truth: funnel, lost reasons by code,
recovery, and every source's duplicates, pollution and costs."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from forecourt_chaos.adapters.local_system import LocalSystem, clock_file
from forecourt_chaos.domain.dealer_group import GroupShape
from forecourt_chaos.domain.stories import CRM_FATES
from forecourt_chaos.service_layer.simulate import SimConfig, Simulation, default_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.processes,
    pytest.mark.timeout(600),
    # Not yet in `make test`: its first runs stalled part-way through the simulated days
    # (issue 17 stays open until it passes there); run it with FORECOURT_E2E_SIMULATE=1.
    pytest.mark.skipif(
        os.environ.get("FORECOURT_E2E_SIMULATE") != "1",
        reason="the simulated dealer group end to end runs with FORECOURT_E2E_SIMULATE=1",
    ),
]

CONFIG = SimConfig(
    seed=17,
    leads=2000,
    days=14,
    start=date(2026, 3, 2),
    shape=GroupShape(dealerships=4, sources=15, agents=8, consultants=12),
    concurrency=16,
)


async def test_the_kpis_of_a_simulated_dealer_group_are_its_ground_truth(
    pg_server_url: str, amqp_url: str, tmp_path: Path
) -> None:
    system = LocalSystem.fresh("e2esim", pg_server_url=pg_server_url, amqp_url=amqp_url)
    path = clock_file(tmp_path, system.tag)
    system.env = default_env(path)
    try:
        await system.start()
        result = await Simulation(CONFIG, system, path).run()
    finally:
        await system.stop()

    assert result.problems == []
    assert [line for line in result.lines if not line.equal] == [], "metrics differ"
    truth = result.truth
    # Every path of the funnel was taken.
    assert truth.rejected and truth.duplicates and truth.returning
    assert truth.prospects and truth.sales
    lead_codes = {code for (_, code), (leads, _) in truth.losses.items() if leads}
    assert lead_codes >= {fate for fate, _ in CRM_FATES if "." in fate} | {"pollution.no_phone"}
    assert any(prospects for (_, prospects) in truth.losses.values())
    assert truth.reactivated and truth.sales_from_reactivated, "reactivation to a won sale"
    assert truth.bought_elsewhere and truth.dead

"""metrics' GET /metrics: the figures every service has and metrics' own, under one endpoint,
with no tenant named."""

from __future__ import annotations

import pytest

from tests.integration.metrics.conftest import Metrics
from tests.integration.metrics.history import march
from tests.integration.prometheus import an_id, check_service_metrics

pytestmark = pytest.mark.integration


async def test_shared_and_own_figures_under_one_endpoint(svc: Metrics) -> None:
    first = march().messages[:1]
    samples = await check_service_metrics(
        svc.client,
        # No route has an id here: a path no route matches is "unmatched", never itself.
        raw_path=f"/v1/kpis/{an_id()}",
        template="unmatched",
        queue_suffix="metrics.lead.ingested.v1",
        publish=lambda: svc.publish(first),
    )
    names = {name for name, _ in samples}
    assert "metrics_events_consumed_total" in names
    body = (await svc.client.get("/metrics")).text
    assert "acme" not in body  # no tenant as a label

"""crm-queue's GET /metrics: Prometheus text, requests by route template, events consumed by its
batched consumer."""

from __future__ import annotations

import pytest

from tests.integration.crm_queue.conftest import Crm, ingested
from tests.integration.prometheus import an_id, check_service_metrics

pytestmark = pytest.mark.integration


async def test_metrics_count_requests_by_template_and_events_by_outcome(crm: Crm) -> None:
    event = ingested()
    await check_service_metrics(
        crm.client,
        raw_path=f"/v1/leads/{an_id()}",
        template="/v1/leads/{lead_id}",
        queue_suffix="crm-queue.lead.ingested.v1",
        publish=lambda: crm.publish(event),
    )

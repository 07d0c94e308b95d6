"""assignment's GET /metrics: Prometheus text, requests by route template, events consumed."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.assignment.conftest import Assignment, erased
from tests.integration.prometheus import an_id, check_service_metrics

pytestmark = pytest.mark.integration


async def test_metrics_count_requests_by_template_and_events_by_outcome(svc: Assignment) -> None:
    event = erased("acme", uuid.uuid4())
    await check_service_metrics(
        svc.client,
        raw_path=f"/v1/prospects/{an_id()}",
        template="/v1/prospects/{lead_id}",
        queue_suffix="assignment.person.erased.v1",
        publish=lambda: svc.publish(event),
    )

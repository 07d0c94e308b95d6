"""recovery's GET /metrics: Prometheus text, requests by route template, events consumed."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.prometheus import an_id, check_service_metrics
from tests.integration.recovery.conftest import Recovery, person_erased

pytestmark = pytest.mark.integration


async def test_metrics_count_requests_by_template_and_events_by_outcome(svc: Recovery) -> None:
    event = person_erased("acme", uuid.uuid4())
    await check_service_metrics(
        svc.client,
        raw_path=f"/v1/recovery/{an_id()}",
        template="/v1/recovery/{recovery_id}",
        queue_suffix="recovery.person.erased.v1",
        publish=lambda: svc.publish(event),
    )

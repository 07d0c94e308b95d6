"""`make up`'s preflight against the real servers: one check per server, all of them awaited."""

from __future__ import annotations

import gc
import warnings

import pytest

from crm_queue.config import CrmQueueSettings
from intake.config import IntakeSettings
from scripts.catalogue import select
from scripts.up import preflight
from shared.settings import CommonSettings
from shared.testing.ports import free_port

pytestmark = pytest.mark.integration


async def test_services_sharing_servers_are_checked_without_a_coroutine_left_unawaited(
    pg_server_url: str, amqp_url: str
) -> None:
    common = CommonSettings(amqp_url=amqp_url)
    intake, crm = select(["intake", "crm-queue"])
    services = [
        (intake, IntakeSettings(database_url=pg_server_url, common=common, http_port=free_port())),
        (crm, CrmQueueSettings(database_url=pg_server_url, common=common, http_port=free_port())),
    ]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        await preflight(services)
        gc.collect()  # an unawaited coroutine warns when it is collected
    assert [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)] == []

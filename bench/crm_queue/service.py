"""crm-queue as a separate process (`uv run forecourt-crm-queue`), its queue names, tokens."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

from pydantic import SecretStr

from bench.common.service import ServiceProcess
from shared.auth import Role, issue_token
from shared.messaging.topology import Topology
from shared.settings import CommonSettings

LEAD_INGESTED = "lead.ingested.v1"


class CrmQueueProcess(ServiceProcess):
    SERVICE = "crm-queue"
    ENV_PREFIX = "CRM_QUEUE"


def ingested_queue(namespace: str) -> str:
    """`<namespace>crm-queue.lead.ingested.v1`, the quorum queue the backlog waits in."""
    from crm_queue.service_layer.handlers import CONSUMER

    return Topology(namespace).queue_name(CONSUMER, LEAD_INGESTED)


def expected_queues(namespace: str) -> set[str]:
    """The queues crm-queue declares under `namespace`: its consumers, their .dlq, unrouted."""
    from faststream.rabbit import RabbitBroker

    from crm_queue.entrypoints import amqp

    names: set[str] = set()
    topology = Topology(namespace, record=names)
    runtime = SimpleNamespace(broker=RabbitBroker(), topology=topology)
    consumer_queues = amqp.register(cast(Any, runtime), cast(Any, None), cast(Any, None))
    names.update(topology.dead_letter_queue_name(q) for q in consumer_queues)
    names.add(topology.unrouted_name)
    return names


def staff_headers(
    jwt_secret: str, role: Role, tenant: str, dealerships: Sequence[str], subject: str = "bench"
) -> dict[str, str]:
    settings = CommonSettings(jwt_secret=SecretStr(jwt_secret))
    token = issue_token(
        settings, subject=subject, role=role, tenant=tenant, dealerships=tuple(dealerships)
    )
    return {"Authorization": f"Bearer {token}"}

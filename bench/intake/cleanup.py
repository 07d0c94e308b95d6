"""Remove what an intake run created: its namespaced queues and exchanges, its databases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from bench.common import cleanup as common
from bench.common.cleanup import create_database, drop_databases
from shared.messaging.topology import Topology

__all__ = ["create_database", "delete_broker_names", "drop_databases", "expected_queues"]


def expected_queues(namespace: str) -> set[str]:
    """The queues intake declares under `namespace` (its consumers, their .dlq, unrouted)."""
    from faststream.rabbit import RabbitBroker

    from intake.entrypoints import amqp

    names: set[str] = set()
    topology = Topology(namespace, record=names)
    consumer_queues = amqp.register(
        RabbitBroker(), topology, cast(Any, None), cast(Any, None), cast(Any, None)
    )
    names.update(topology.dead_letter_queue_name(q) for q in consumer_queues)
    names.add(topology.unrouted_name)
    return names


async def delete_broker_names(
    amqp_url: str, namespace: str, extra_queues: Iterable[str] = ()
) -> tuple[int, int]:
    """Delete every queue and exchange of the namespace; returns (queues, exchanges) deleted."""
    queues = expected_queues(namespace) | set(extra_queues)
    return await common.delete_broker_names(amqp_url, namespace, queues)

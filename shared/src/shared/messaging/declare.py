"""Declare the shared topology a service relies on before it consumes or publishes."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.rabbit import RabbitBroker

from shared.messaging.topology import Topology


async def declare_topology(
    broker: RabbitBroker, topology: Topology, queue_names: Sequence[str] = ()
) -> None:
    """Events exchange with its alternate exchange and `unrouted` queue, the dead-letter
    exchange, and a bound `.dlq` for each of `queue_names`. Idempotent; call after connect()."""
    unrouted = await broker.declare_exchange(topology.unrouted_exchange())
    unrouted_queue = await broker.declare_queue(topology.unrouted_queue())
    await unrouted_queue.bind(unrouted)
    await broker.declare_exchange(topology.events_exchange())
    dlx = await broker.declare_exchange(topology.dead_letter_exchange())
    for name in queue_names:
        dlq = await broker.declare_queue(topology.dead_letter_queue(name))
        await dlq.bind(dlx, routing_key=name)

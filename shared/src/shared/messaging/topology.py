"""Exchange and queue names and arguments, the same in every service.

One durable topic exchange for events, one direct dead-letter exchange. Each consumer gets a
durable quorum queue per routing key, with a delivery limit (3.x quorum queues have none by
default: a poison message would loop forever) and its own `<queue>.dlq`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

EVENTS_EXCHANGE = "forecourt.events"
DEAD_LETTER_EXCHANGE = "forecourt.dlx"
INTAKE_RAW_QUEUE = "forecourt.intake.raw"
# Events no subscriber binds yet land here instead of being returned: kept, visible to ops.
UNROUTED = "forecourt.unrouted"


@dataclass(frozen=True)
class Topology:
    # Prefix for every name: "" in production, unique per test run on a shared broker.
    namespace: str = ""
    delivery_limit: int = 20
    # Tests pass a set to learn every queue name used, so they can delete them afterwards.
    record: set[str] | None = field(default=None, compare=False, hash=False, repr=False)

    def _seen(self, name: str) -> str:
        if self.record is not None:
            self.record.add(name)
        return name

    @property
    def events_exchange_name(self) -> str:
        return f"{self.namespace}{EVENTS_EXCHANGE}"

    @property
    def dead_letter_exchange_name(self) -> str:
        return f"{self.namespace}{DEAD_LETTER_EXCHANGE}"

    @property
    def intake_raw_queue_name(self) -> str:
        return f"{self.namespace}{INTAKE_RAW_QUEUE}"

    @property
    def unrouted_name(self) -> str:
        return f"{self.namespace}{UNROUTED}"

    def events_exchange(self) -> RabbitExchange:
        return RabbitExchange(
            self.events_exchange_name,
            type=ExchangeType.TOPIC,
            durable=True,
            arguments={"alternate-exchange": self.unrouted_name},
        )

    def unrouted_exchange(self) -> RabbitExchange:
        return RabbitExchange(self.unrouted_name, type=ExchangeType.FANOUT, durable=True)

    def unrouted_queue(self) -> RabbitQueue:
        return RabbitQueue(
            self._seen(self.unrouted_name), queue_type=QueueType.QUORUM, durable=True
        )

    def dead_letter_exchange(self) -> RabbitExchange:
        return RabbitExchange(
            self.dead_letter_exchange_name, type=ExchangeType.DIRECT, durable=True
        )

    def queue_name(self, consumer: str, routing_key: str) -> str:
        return f"{self.namespace}{consumer}.{routing_key}"

    def queue_arguments(self, queue_name: str) -> dict[str, Any]:
        return {
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dead_letter_exchange_name,
            "x-dead-letter-routing-key": queue_name,
            # at-least-once dead-lettering only works together with reject-publish overflow.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def work_queue(self, name: str, binding_key: str = "") -> RabbitQueue:
        # The typed QuorumQueueArgs lack x-delivery-limit's dead-letter companions: plain dict.
        queue: RabbitQueue = RabbitQueue(  # type: ignore[call-overload]
            self._seen(name),
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=binding_key or name,
            arguments=self.queue_arguments(name),
        )
        return queue

    def consumer_queue(self, consumer: str, routing_key: str) -> RabbitQueue:
        """`<consumer>.<routing key>`, bound to the events exchange by that routing key."""
        return self.work_queue(self.queue_name(consumer, routing_key), routing_key)

    def intake_raw_queue(self) -> RabbitQueue:
        """Where other systems push raw leads (default exchange, routing key = queue name)."""
        return self.work_queue(self.intake_raw_queue_name)

    @staticmethod
    def dead_letter_queue_name(queue_name: str) -> str:
        return f"{queue_name}.dlq"

    def dead_letter_queue(self, queue_name: str) -> RabbitQueue:
        name = self._seen(self.dead_letter_queue_name(queue_name))
        return RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True, routing_key=queue_name)

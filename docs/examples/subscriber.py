"""An outside system subscribing to Forecourt's funnel events with a queue of its own.

Plain aio-pika, nothing from the Forecourt repository: copy it and start from here
(docs/subscribers.md explains each step).

    python subscriber.py --url amqp://guest:guest@127.0.0.1:5672/ \
        --queue acme-bi.funnel --routing-key 'lead.#' --routing-key 'prospect.#'

It declares a durable quorum queue with a delivery limit and a dead-letter exchange and queue of
its own (`<queue>.dlx`, `<queue>.dlq`), binds it to the `forecourt.events` topic exchange by each
routing key, and prints every event as one JSON line:
{"routing_key", "event_id", "event_type", "event_version", "envelope"}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections import OrderedDict
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

EVENTS_EXCHANGE = "forecourt.events"
PRINTED_FIELDS = ("event_id", "event_type", "event_version")


class SeenIds:
    """The last `size` event ids handled. A real subscriber records `event_id` in its own
    database, in the transaction that applies the event (a unique key), not in memory."""

    def __init__(self, size: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print Forecourt's funnel events.")
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/", help="AMQP URL")
    parser.add_argument(
        "--namespace", default="", help="Forecourt's FORECOURT_NAMESPACE (empty in production)"
    )
    parser.add_argument("--queue", default="example-subscriber.funnel", help="your queue's name")
    parser.add_argument(
        "--routing-key",
        action="append",
        dest="routing_keys",
        help="a binding key, repeatable: lead.ingested.v1, 'lead.#', '#.v1' (default '#')",
    )
    parser.add_argument("--delivery-limit", type=int, default=10)
    parser.add_argument("--count", type=int, default=0, help="stop after N events (0: never)")
    return parser.parse_args(argv)


def queue_arguments(queue: str, dead_letter_exchange: str, delivery_limit: int) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",  # replicated, and counts redeliveries
        "x-delivery-limit": delivery_limit,  # a message failing this often is dead-lettered
        # An exchange of your own (declaring a queue needs write permission on its DLX, and a
        # subscriber has none on Forecourt's or the default exchange), routing key = queue name.
        "x-dead-letter-exchange": dead_letter_exchange,
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",  # no dead letter lost on the way
        "x-overflow": "reject-publish",  # required by at-least-once; set no x-max-length
    }


def handle(envelope: dict[str, Any], routing_key: str) -> None:
    """Your work goes here. Raise to have the message redelivered (up to the limit)."""
    line = {"routing_key": routing_key, **{k: envelope.get(k) for k in PRINTED_FIELDS}}
    print(json.dumps({**line, "envelope": envelope}, sort_keys=True), flush=True)


async def run(args: argparse.Namespace) -> None:
    exchange_name = f"{args.namespace}{EVENTS_EXCHANGE}"
    queue_name = f"{args.namespace}{args.queue}"
    dead_letter_exchange_name = f"{queue_name}.dlx"
    dead_letter_name = f"{queue_name}.dlq"
    routing_keys = args.routing_keys or ["#"]

    connection = await aio_pika.connect_robust(args.url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=50)
        # Forecourt owns the exchange (its services declare it): look it up, never redeclare it.
        try:
            exchange = await channel.get_exchange(exchange_name, ensure=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            sys.exit(f"no exchange {exchange_name!r}: start Forecourt first, or check --namespace")
        dead_letter_exchange = await channel.declare_exchange(
            dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        dead_letters = await channel.declare_queue(
            dead_letter_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_letters.bind(dead_letter_exchange, routing_key=queue_name)
        queue = await channel.declare_queue(
            queue_name,
            durable=True,
            arguments=queue_arguments(queue_name, dead_letter_exchange_name, args.delivery_limit),
        )
        for key in routing_keys:
            await queue.bind(exchange, routing_key=key)
        print(
            f"listening on {queue_name} for {', '.join(routing_keys)}", file=sys.stderr, flush=True
        )

        seen = SeenIds()
        handled = 0
        done = asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal handled
            try:
                envelope = json.loads(message.body)
                event_id = str(envelope["event_id"])
            except (ValueError, KeyError, TypeError) as exc:
                # Poison: retrying cannot help. Straight to the dead-letter queue.
                print(f"unreadable message {message.message_id}: {exc!r}", file=sys.stderr)
                await message.reject(requeue=False)
                return
            if event_id in seen:
                await message.ack()  # a redelivery of an event already handled
                return
            try:
                handle(envelope, message.routing_key or "")
            except Exception:
                await message.nack(requeue=True)  # counted against x-delivery-limit
                raise
            seen.add(event_id)  # only once handled: a failed event is tried again
            await message.ack()
            handled += 1
            if args.count and handled >= args.count:
                done.set()

        await queue.consume(on_message)
        await done.wait()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(parse_args()))


if __name__ == "__main__":
    main()

"""Subscribers that never lose or loop a message.

- The body reaches the handler as raw bytes and is parsed here, so a malformed message cannot
  fail inside faststream before we decide what to do with it.
- A message that can never succeed (unparseable, unknown event, `PoisonMessage`) is published to
  the dead-letter exchange with the reason in its headers, confirmed, then acked.
- Any other error is a transient one: nack with requeue after a short backoff. The quorum queue
  counts deliveries and dead-letters past its delivery limit, so nothing loops forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from shared.messaging.topology import Topology

log = logging.getLogger(__name__)

T = TypeVar("T")


class PoisonMessage(Exception):
    """Raised by a handler for a message that no retry can fix."""


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return message.body


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:10]
        ]
        return "; ".join(parts)
    return str(exc) or type(exc).__name__


def _delivery_count(message: RabbitMessage) -> int:
    # Quorum queues count redeliveries in this header.
    value = (message.raw_message.headers or {}).get("x-delivery-count", 0)
    return value if isinstance(value, int) else 0


def backoff_seconds(delivery_count: int) -> float:
    return float(min(0.25 * 2**delivery_count, 15.0))


async def dead_letter(
    broker: RabbitBroker,
    topology: Topology,
    queue_name: str,
    message: RabbitMessage,
    exc: BaseException,
) -> None:
    raw = message.raw_message
    headers = dict(raw.headers or {})
    headers.update(
        {
            "x-forecourt-error": _reason(exc)[:2000],
            "x-forecourt-error-type": type(exc).__name__,
            "x-forecourt-queue": queue_name,
            "x-forecourt-routing-key": raw.routing_key or "",
        }
    )
    await broker.publish(
        raw.body,
        exchange=topology.dead_letter_exchange(),
        routing_key=queue_name,
        mandatory=True,
        persist=True,
        headers=headers,
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        content_type=raw.content_type,
        timeout=10,
    )
    log.warning("dead-lettered %s from %s: %s", raw.message_id, queue_name, _reason(exc))
    await message.ack()


def subscribe(
    broker: RabbitBroker,
    registrar: RabbitBroker | RabbitRouter,
    topology: Topology,
    queue: RabbitQueue,
    *,
    parse: Callable[[bytes, RabbitMessage], T],
    handle: Callable[[T], Awaitable[None]],
    exchange: RabbitExchange | None = None,
    permanent: tuple[type[BaseException], ...] = (),
    retry_backoff: Callable[[int], float] = backoff_seconds,
) -> None:
    """Register `handle` on `queue`; `parse` turns the raw body into its argument.

    Errors raised by `parse`, `PoisonMessage`, and those in `permanent` dead-letter at once.
    """
    queue_name = queue.name
    permanent_errors: tuple[type[BaseException], ...] = (
        PoisonMessage,
        ValidationError,
        ValueError,
        *permanent,
    )

    async def on_message(body: bytes, message: RabbitMessage) -> None:
        try:
            parsed = parse(body, message)
            await handle(parsed)
        except permanent_errors as exc:
            await dead_letter(broker, topology, queue_name, message, exc)
            return
        except Exception:
            count = _delivery_count(message)
            log.exception("handler failed on %s (delivery %d); will retry", queue_name, count + 1)
            await asyncio.sleep(retry_backoff(count))
            await message.nack(requeue=True)
            return
        await message.ack()

    on_message.__name__ = f"on_{queue_name.replace('.', '_').replace('-', '_')}"
    registrar.subscriber(
        queue,
        exchange,
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_body,
        title=queue_name,
    )(on_message)

"""Subscribers that never lose or loop a message, and never dead-letter one for an outage.

- The body reaches the handler as raw bytes and is parsed here, so a malformed message cannot
  fail inside faststream before we decide what to do with it.
- A message that can never succeed (unparseable, unknown event, `PoisonMessage`, a date or a
  number past its range, values the database refuses: a NUL in a text, `outage.refused_data`) is
  published to the dead-letter exchange with the reason in its headers, confirmed, then acked,
  on its first delivery: no retry, no redelivery spent on it.
- An outage (database or broker unreachable: `shared.messaging.outage`) pauses the subscriber:
  the message is tried again in process until the dependency answers, never nacked, so the
  outage does not count against its delivery limit; the other deliveries wait meanwhile.
- Any other error may be the message's own: nack with requeue after a short backoff; at its
  last allowed delivery the consumer dead-letters it itself, with the error. A message that
  comes back that often without an outcome (its consumer died holding it each time) is
  dead-lettered on arrival. The quorum queue's own delivery limit stays as a backstop.
- Handlers wait for a slot before they run, so a process never runs more of them at once than
  its database pool serves (`shared.messaging.slots`): a busy pool is a queue, not an outage.
- A dead letter never carries a secret: `x-api-key`, `authorization` and the like are removed
  (`shared.messaging.redact`), with a hint such as the API key's public prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy.exc
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from shared import observability
from shared.messaging.outage import Abandoned, Pause, is_outage, outage_backoff, refused_data
from shared.messaging.redact import redact_headers
from shared.messaging.slots import handler_slot
from shared.messaging.topology import Topology

log = logging.getLogger(__name__)

T = TypeVar("T")


class PoisonMessage(Exception):
    """Raised by a handler for a message that no retry can fix."""


class NoOutcome(Exception):
    """A message delivered as often as its delivery limit allows without ever being settled:
    its consumer died (or lost its channel) holding it every time."""


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """faststream decoder: the handler gets the body as bytes, parsed by our code."""
    return message.body


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:10]
        ]
        return "; ".join(parts)
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
        # The driver's words, not SQLAlchemy's: its text repeats the statement and every
        # parameter (the person's data) after them.
        return str(exc.orig) or type(exc.orig).__name__
    return str(exc) or type(exc).__name__


def delivery_count(message: RabbitMessage) -> int:
    """Earlier deliveries of this message (quorum queues count them in `x-delivery-count`)."""
    value = (message.raw_message.headers or {}).get("x-delivery-count", 0)
    return value if isinstance(value, int) else 0


def backoff_seconds(delivery_count: int) -> float:
    return float(min(0.25 * 2**delivery_count, 15.0))


def permanent_errors(
    extra: tuple[type[BaseException], ...] = (),
) -> tuple[type[BaseException], ...]:
    """Errors that dead-letter a message at once: no retry can fix them (with those the
    database raises for the message's values: `is_poison`). `OverflowError`: a value past what
    a date or a number holds (a loss on 9999-12-31 whose follow-up falls after it)."""
    return (PoisonMessage, ValidationError, ValueError, OverflowError, *extra)


def is_poison(exc: BaseException, permanent: tuple[type[BaseException], ...]) -> bool:
    """Whether `exc` is the message's own for good: one of `permanent` (`permanent_errors`), or
    the database refusing the values it brought (`outage.refused_data`: SQLAlchemy wraps
    those in its own classes, so no class of `permanent` catches them)."""
    return isinstance(exc, permanent) or refused_data(exc)


async def dead_letter(
    broker: RabbitBroker,
    topology: Topology,
    queue_name: str,
    message: RabbitMessage,
    exc: BaseException,
    *,
    secret_headers: Iterable[str] = (),
) -> None:
    """Publish `message` to the dead-letter exchange with the reason (confirmed), then ack it.
    Secret headers are removed first (`shared.messaging.redact`; `secret_headers` adds names)."""
    raw = message.raw_message
    headers = redact_headers(raw.headers or {}, secret_headers)
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


@dataclass
class Outcomes:
    """How one subscriber settles its messages: ack, dead-letter, retry later. Shared by
    `subscribe` and `shared.messaging.batch.subscribe_batch`."""

    broker: RabbitBroker
    topology: Topology
    queue_name: str
    # Deliveries a message gets before the consumer dead-letters it with its last error.
    delivery_limit: int
    pause: Pause
    retry_backoff: Callable[[int], float]
    running: Callable[[], bool]
    # Errors that dead-letter a message at once (`permanent_errors`).
    permanent: tuple[type[BaseException], ...] = ()
    secret_headers: tuple[str, ...] = ()

    def alive(self, message: RabbitMessage) -> Callable[[], bool]:
        """False once the subscriber stops or the message's channel is gone (the broker then
        has it back and redelivers it): nothing left to do with it here."""
        channel = message.raw_message.channel
        return lambda: self.running() and not channel.is_closed

    async def ack(self, message: RabbitMessage) -> None:
        try:
            await message.ack()
        except Exception as exc:
            if not is_outage(exc):
                raise
            # The broker lost our channel: it redelivers, and the inbox makes that a no-op.
            log.warning("%s: ack of %s lost: %r", self.queue_name, message.message_id, exc)

    async def dead_letter(self, message: RabbitMessage, exc: BaseException) -> None:
        with contextlib.suppress(Abandoned):  # the broker has it back and redelivers it
            await self.pause.run(
                lambda: dead_letter(
                    self.broker,
                    self.topology,
                    self.queue_name,
                    message,
                    exc,
                    secret_headers=self.secret_headers,
                ),
                self.alive(message),
            )
            observability.consumed(self.queue_name, "dead_lettered")

    async def dead_on_arrival(self, message: RabbitMessage) -> bool:
        """Dead-letter a message back for its last delivery the broker allows after its
        consumers died holding it (a failure would have dead-lettered it sooner): one more
        crash and the broker would dead-letter it itself, headers and secrets as they are."""
        count = delivery_count(message)
        if count < self.delivery_limit:
            return False
        await self.dead_letter(
            message,
            NoOutcome(
                f"delivered {count + 1} times without an outcome: its consumer stopped or "
                "crashed holding it each time"
            ),
        )
        return True

    async def failed(self, message: RabbitMessage, exc: BaseException) -> None:
        """Settle a message whose handling raised `exc` (not an outage: those pause)."""
        if is_poison(exc, self.permanent):
            await self.dead_letter(message, exc)
        else:
            await self.retry_later(message, exc)

    async def retry_later(self, message: RabbitMessage, exc: BaseException) -> None:
        """An error that is neither an outage nor known to be permanent: back off and nack,
        or, at the message's last allowed delivery, dead-letter it with that error."""
        count = delivery_count(message)
        if count + 1 >= self.delivery_limit:
            log.error(
                "%s: %s failed on its delivery %d of %d",
                self.queue_name,
                message.message_id,
                count + 1,
                self.delivery_limit,
                exc_info=exc,
            )
            await self.dead_letter(message, exc)
            return
        log.error(
            "%s: handler failed (delivery %d); will retry", self.queue_name, count + 1, exc_info=exc
        )
        await asyncio.sleep(self.retry_backoff(count))
        observability.consumed(self.queue_name, "retry")
        try:
            await message.nack(requeue=True)
        except Exception as nack_error:
            if not is_outage(nack_error):
                raise
            log.warning("%s: nack lost: %r", self.queue_name, nack_error)


def subscriber_name(queue_name: str) -> str:
    return f"on_{queue_name.replace('.', '_').replace('-', '_')}"


def outcomes_for(
    broker: RabbitBroker,
    topology: Topology,
    queue: RabbitQueue,
    permanent: tuple[type[BaseException], ...],
    retry_backoff: Callable[[int], float],
    outage_backoff: Callable[[int], float],
    running: Callable[[], bool],
    secret_headers: Iterable[str] = (),
) -> Outcomes:
    limit = (queue.arguments or {}).get("x-delivery-limit", topology.delivery_limit)
    dead_on_arrival = permanent_errors(permanent)
    # A permanent error is the message's own, whatever it wraps.
    pause = Pause(
        queue.name,
        outage_backoff,
        outage=lambda exc: not is_poison(exc, dead_on_arrival) and is_outage(exc),
    )
    return Outcomes(
        broker,
        topology,
        queue.name,
        int(limit),
        pause,
        retry_backoff,
        running,
        dead_on_arrival,
        tuple(secret_headers),
    )


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
    outage_backoff: Callable[[int], float] = outage_backoff,
    secret_headers: Iterable[str] = (),
    needs_slot: Callable[[], bool] = lambda: True,
) -> None:
    """Register `handle` on `queue`; `parse` turns the raw body into its argument.

    Errors raised by `parse`, `PoisonMessage`, those in `permanent` and values the database
    refuses (`shared.messaging.outage.refused_data`) dead-letter at once. An
    outage pauses the subscriber until the dependency answers (`outage_backoff` between tries);
    other errors are retried with `retry_backoff`, up to the queue's delivery limit. Dead
    letters lose their secret headers (`secret_headers` names more than the usual ones).
    `needs_slot` false: the handler hands its database work to something bounded of its own
    (intake's `Batcher`), so it waits without a handler slot (`shared.messaging.slots`): held,
    the slots would cap how many deliveries can share that work's transactions.
    """
    subscriber = registrar.subscriber(
        queue,
        exchange,
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_body,
        title=queue.name,
    )
    outcomes = outcomes_for(
        broker,
        topology,
        queue,
        permanent,
        retry_backoff,
        outage_backoff,
        lambda: subscriber.running,
        secret_headers,
    )

    async def on_message(body: bytes, message: RabbitMessage) -> None:
        if await outcomes.dead_on_arrival(message):
            return

        claims = observability.track_claims()

        async def attempt() -> None:
            claims.skipped = 0  # a try after an outage starts over
            if not needs_slot():
                await handle(parse(body, message))
                return
            # No more handlers at once than the pool serves (shared.messaging.slots).
            async with handler_slot(broker):
                await handle(parse(body, message))

        try:
            await outcomes.pause.run(attempt, outcomes.alive(message))
        except Abandoned:
            return
        except Exception as exc:
            await outcomes.failed(message, exc)
            return
        await outcomes.ack(message)
        observability.consumed(
            outcomes.queue_name, "duplicate_skipped" if claims.skipped else "ack"
        )

    on_message.__name__ = subscriber_name(queue.name)
    subscriber(on_message)

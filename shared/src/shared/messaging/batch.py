"""Batched consumption: the deliveries a subscriber already holds, handled in one transaction.

    subscribe_batch(
        broker, broker, topology, queue,
        parse=parse_envelope_of,          # (body, message) -> T, called once per message
        handle=on_leads_ingested,         # (list[T]) -> None: ONE transaction for the list
        exchange=topology.events_exchange(),
        max_batch=50,                     # at most this many per call (<= FORECOURT_PREFETCH)
        max_wait=0.005,                   # seconds the first message waits for company
    )

What `handle` must do: handle every item of the list in one transaction and commit once (a
`UnitOfWork`), claiming each event in the inbox first (`uow.claim(consumer, event_id)`) and
skipping those already claimed: a batch may hold a redelivered event, or the same event twice.
It must not catch errors to carry on with the rest: raise, and the batch is handled again one
message at a time.

What the subscriber does:
- **Gathering**: the broker pushes up to `FORECOURT_PREFETCH` unacked deliveries, and each runs
  as its own task (aiormq). The first to arrive waits at most `max_wait` for others; a batch
  goes as soon as it has `max_batch`. One batch at a time per subscriber; what arrives meanwhile
  forms the next. At low load a message is a batch of one, after `max_wait`.
- **Per message first**: `parse` runs on each delivery, so an unparseable one is dead-lettered
  alone and never joins a batch (as are `NoOutcome` messages, see `consumer.py`).
- **Success**: every message of the batch is acked after `handle` returned (after its commit).
- **A failure of the batch** (any error but an outage): the batch is handled again one message
  at a time, each as a list of one, so one bad event never sinks the others; each then ends as
  in `subscribe`: poison (`PoisonMessage`, `ValueError`, `ValidationError`, `permanent`, values
  the database refuses) dead-lettered with its reason at once, any other error nacked and
  retried up to the delivery limit.
- **An outage** (`shared.messaging.outage`) pauses the subscriber as in `subscribe`: the batch
  is tried again in process until the database answers, nothing is nacked, and new deliveries
  wait, so no message's delivery limit moves.

Why on top of faststream's subscriber rather than beside it: faststream 0.7's RabbitMQ
subscriber has no batch mode (its Redis and Kafka ones do) and no `max_workers`; it calls the
handler once per delivery, concurrently, up to prefetch. Gathering those calls keeps what the
subscriber gives (declaration, AsyncAPI docs, reconnection, graceful stop waiting for handlers
in flight) and needs no second consumer; a loop of `basic.get` would pay a round trip per
message, and aio-pika's queue iterator beside faststream would lose all of the above.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from faststream import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage

from shared import observability
from shared.messaging.consumer import (
    Outcomes,
    backoff_seconds,
    outcomes_for,
    raw_body,
    subscriber_name,
)
from shared.messaging.outage import Abandoned, outage_backoff
from shared.messaging.slots import handler_slot
from shared.messaging.topology import Topology

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Done(enum.Enum):
    HANDLED = "handled"  # committed: ack
    ABANDONED = "abandoned"  # the subscriber stops or lost its channel: leave it to the broker


@dataclass
class _Item(Generic[T]):
    parsed: T
    message: RabbitMessage
    # The message's outcome: _Done, or the exception its handling raised.
    outcome: asyncio.Future[_Done] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, result: _Done | BaseException) -> None:
        if self.outcome.done():
            return
        if isinstance(result, BaseException):
            self.outcome.set_exception(result)
        else:
            self.outcome.set_result(result)


class _Batcher(Generic[T]):
    """Gathers the deliveries in flight and hands them to `handle` a batch at a time."""

    def __init__(
        self,
        handle: Callable[[list[T]], Awaitable[None]],
        outcomes: Outcomes,
        max_batch: int,
        max_wait: float,
    ) -> None:
        self._handle = handle
        self._outcomes = outcomes
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._pending: list[_Item[T]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: _Item[T]) -> _Done:
        self._pending.append(item)
        if len(self._pending) >= self._max_batch:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await item.outcome

    async def _flush(self) -> None:
        try:
            while self._pending:
                if len(self._pending) < self._max_batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), self._max_wait)
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._full.clear()
                if len(self._pending) >= self._max_batch:
                    self._full.set()
                await self._run(batch)
        finally:  # a bug here must not leave deliveries waiting forever
            for item in self._pending:
                item.settle(_Done.ABANDONED)
            self._pending.clear()

    async def _attempt(self, batch: list[_Item[T]]) -> BaseException | None:
        """Handle `batch` in one call, waiting out outages; the error of the call, if any."""
        claims = observability.track_claims()

        async def attempt() -> None:
            claims.skipped = 0  # a try after an outage starts over
            # A batch is one transaction: one slot (shared.messaging.slots).
            async with handler_slot(self._outcomes.broker):
                await self._handle([item.parsed for item in batch])

        try:
            # One subscriber, one channel: the first message's tells for all of them.
            await self._outcomes.pause.run(attempt, self._outcomes.alive(batch[0].message))
        except Exception as exc:
            return exc
        # Which of the batch were duplicates is the handler's to know: only how many.
        skipped = min(claims.skipped, len(batch))
        observability.consumed(self._outcomes.queue_name, "duplicate_skipped", skipped)
        observability.consumed(self._outcomes.queue_name, "ack", len(batch) - skipped)
        return None

    async def _run(self, batch: list[_Item[T]]) -> None:
        error = await self._attempt(batch)
        if error is None:
            for item in batch:
                item.settle(_Done.HANDLED)
            return
        if isinstance(error, Abandoned) or len(batch) == 1:
            for item in batch:
                item.settle(_Done.ABANDONED if isinstance(error, Abandoned) else error)
            return
        log.warning(
            "%s: a batch of %d failed (%r); handling its messages one by one",
            self._outcomes.queue_name,
            len(batch),
            error,
        )
        for item in batch:
            single = await self._attempt([item])
            if single is None:
                item.settle(_Done.HANDLED)
            elif isinstance(single, Abandoned):
                item.settle(_Done.ABANDONED)
            else:
                item.settle(single)


def subscribe_batch(
    broker: RabbitBroker,
    registrar: RabbitBroker | RabbitRouter,
    topology: Topology,
    queue: RabbitQueue,
    *,
    parse: Callable[[bytes, RabbitMessage], T],
    handle: Callable[[list[T]], Awaitable[None]],
    exchange: RabbitExchange | None = None,
    max_batch: int = 50,
    max_wait: float = 0.005,
    permanent: tuple[type[BaseException], ...] = (),
    retry_backoff: Callable[[int], float] = backoff_seconds,
    outage_backoff: Callable[[int], float] = outage_backoff,
    secret_headers: Iterable[str] = (),
) -> None:
    """Register `handle` on `queue` for lists of up to `max_batch` parsed messages, handled in
    one transaction and acked after it; see the module's docstring for what `handle` must do
    and how failures and outages are settled. The other arguments are `subscribe`'s."""
    if max_batch < 1 or max_wait < 0:
        raise ValueError("max_batch must be at least 1 and max_wait not negative")
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
    batcher = _Batcher(handle, outcomes, max_batch, max_wait)

    async def on_message(body: bytes, message: RabbitMessage) -> None:
        if await outcomes.dead_on_arrival(message):
            return
        try:
            parsed = parse(body, message)
        except Exception as exc:
            await outcomes.failed(message, exc)
            return
        try:
            done = await batcher.submit(_Item(parsed, message))
        except Exception as exc:
            await outcomes.failed(message, exc)
            return
        if done is _Done.HANDLED:
            await outcomes.ack(message)

    on_message.__name__ = subscriber_name(queue.name)
    subscriber(on_message)

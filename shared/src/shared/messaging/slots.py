"""How many message handlers of one process may work at once: no more than its pool serves.

The broker pushes up to `FORECOURT_PREFETCH` deliveries per subscriber and faststream runs each
as its own task, so a service with three subscribers may start ~200 handlers at once on a pool
of 5 + 2 connections. Those beyond the pool queue in SQLAlchemy's pool, which gives up after
its timeout (30 s) with `sqlalchemy.exc.TimeoutError`: with a backlog and a lock every handler
queues for (assignment's dealership lock), measured, handlers timed out by the dozen. A pool
that is busy is not an outage.

So every handler call of `shared.messaging.consumer.subscribe` and every batch of
`shared.messaging.batch.subscribe_batch` takes a slot first, and a process has as many slots
as its pool has steady connections (`shared.runtime.run_service` sets them from
`<SERVICE>_DB_POOL_SIZE`); the overflow stays for HTTP requests and timers. Deliveries beyond
them wait for a slot, for as long as it takes, holding no connection; prefetch still decides
how many a subscriber holds (a batch subscriber gathers them).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from faststream.rabbit import RabbitBroker

_SLOTS: weakref.WeakKeyDictionary[RabbitBroker, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def limit_handlers(broker: RabbitBroker, slots: int) -> None:
    """At most `slots` handlers of `broker`'s subscribers (all of them together) at once.
    Call it before the subscribers start; without it a broker's handlers are not limited."""
    if slots < 1:
        raise ValueError("slots must be at least 1")
    _SLOTS[broker] = asyncio.Semaphore(slots)


@contextlib.asynccontextmanager
async def handler_slot(broker: RabbitBroker) -> AsyncIterator[None]:
    """Hold one of `broker`'s handler slots (if it has any) while the block runs."""
    slots = _SLOTS.get(broker)
    if slots is None:
        yield
        return
    async with slots:
        yield

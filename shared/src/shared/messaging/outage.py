"""Tell an outage of the infrastructure from a message that fails on its own, and wait one out.

An outage (the database or the broker unreachable, restarting, the server out of connections)
says nothing about the message in hand: the same message succeeds once the dependency answers.
Counting it against the message's delivery limit dead-letters good work, so consumers wait
instead (`Pause`), holding the messages they have, and take nothing new until the dependency is
back. A pool whose connections are all busy is no outage: consumers wait for a slot before
(`shared.messaging.slots`), and a pool timeout is an error like any other.

A statement the database (or its driver) refuses for the values it was given is the message's
own failure, never an outage, whatever SQLAlchemy wraps it in (`refused_data`): a NUL in a
text, a number past its column's range. It fails the same way on every delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import aiormq.exceptions
import asyncpg
import sqlalchemy.exc
from asyncpg.exceptions._base import DataError as DriverDataError

from shared.observability import PAUSED

log = logging.getLogger(__name__)

T = TypeVar("T")

# OSErrors of the file system are a handler's own bug, not a dependency that went away.
_LOCAL_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
_POSTGRES_DOWN = (
    asyncpg.PostgresConnectionError,  # class 08: connection failure, does not exist, ...
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full, memory
)


# SQLSTATEs of a statement refused for the values it carries: class 22 (data exception: a NUL
# or a byte sequence the encoding refuses, a number or a date out of range, a text longer than
# its column) and the integrity rules no later delivery can satisfy (NOT NULL, CHECK). Not
# unique or foreign-key violations: a race, or events in another order, may resolve them.
_REFUSED_VALUE_SQLSTATES = frozenset({"23502", "23514"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: SQLAlchemy's `orig`, `raise ... from` causes. Not the
    implicit `__context__`: a handler's own error raised while it handled a connection error
    is still its own."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__):
            if isinstance(linked, BaseException):
                todo.append(linked)


def _amqp_stream_ended(exc: BaseException) -> bool:
    """aiormq reading a frame from a connection the other end already closed raises a bare
    StopAsyncIteration (not its AMQPConnectionError): in the chaos runs, a broker or proxy
    closing the link during the handshake made a starting replica exit with code 3."""
    if not isinstance(exc, StopAsyncIteration):
        return False
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith("aiormq."):
            return True
        tb = tb.tb_next
    return False  # a handler's own exhausted iterator is its own bug


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    # Not `sqlalchemy.exc.TimeoutError`: the pool gave no connection in time because its
    # connections are busy, not because the database is gone (a connection that cannot be made
    # fails with one of these). Consumers never run more handlers than the pool serves
    # (shared.messaging.slots); a timeout despite that is retried like any error of its own.
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return True
    if isinstance(exc, _POSTGRES_DOWN):
        return True
    if isinstance(exc, aiormq.exceptions.ChannelInvalidStateError):
        return True  # publishing or acking on a channel the broker connection lost
    if type(exc) is aiormq.exceptions.ChannelClosed:
        return True  # closed with the connection (its subclasses are refusals: 403, 404, 406)
    if isinstance(exc, TimeoutError | socket.gaierror):
        return True  # connecting timed out; a host name that does not resolve right now
    if _amqp_stream_ended(exc):
        return True
    # ConnectionRefused/Reset/Aborted, BrokenPipe, aiormq's AMQPConnectionError, and asyncio's
    # "Multiple exceptions: [Errno 111] ..." (an OSError without errno).
    return isinstance(exc, OSError) and not isinstance(exc, _LOCAL_OS_ERRORS)


def _refused_data_itself(exc: BaseException) -> bool:
    # asyncpg's own DataError (an InterfaceError and a ValueError, without a SQLSTATE): an
    # argument it cannot encode, e.g. an integer past int64, before anything is sent.
    if isinstance(exc, DriverDataError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and (
        sqlstate.startswith("22") or sqlstate in _REFUSED_VALUE_SQLSTATES
    )


def refused_data(exc: BaseException) -> bool:
    """True if `exc` (or what it wraps) is the database or its driver refusing the values of a
    statement: the same message fails the same way every time it is handled."""
    return any(_refused_data_itself(e) for e in _chain(exc))


def is_outage(exc: BaseException) -> bool:
    """True if `exc` (or what it wraps) says a database or broker is unreachable; never for
    values the database refused (`refused_data`), however they are wrapped."""
    if refused_data(exc):
        return False
    return any(_is_outage_itself(e) for e in _chain(exc))


# What RabbitMQ answers (404, closing the channel) to a declare or consume of a queue whose process
# is not up: a quorum queue still electing its leader after the node restarted ("... due to
# timeout"), or one stopping with the node. The queue exists and comes back by itself.
_QUEUE_NOT_UP = ("due to timeout", "is down or inaccessible", "stopped by supervisor", "crashed")


def queue_not_up(exc: BaseException) -> bool:
    """True if `exc` (or what it wraps) is RabbitMQ saying a queue's process is not up (yet):
    no fault of the topology, gone once the node has recovered its queues."""
    return any(
        isinstance(e, aiormq.exceptions.ChannelNotFoundEntity)
        and any(marker in str(e) for marker in _QUEUE_NOT_UP)
        for e in _chain(exc)
    )


OUTAGE_BACKOFF_CAP_SECONDS = 2.0


def outage_backoff(attempt: int) -> float:
    """Seconds before trying again while a dependency is down: 0.25 s, doubling, then every
    OUTAGE_BACKOFF_CAP_SECONDS. A try against a dependency that is down costs next to nothing (a
    refused connection), while a long wait is paid in full after it is back: with a 10 s cap,
    consumers resumed up to 10 s after PostgreSQL answered again."""
    return float(min(0.25 * 2**attempt, OUTAGE_BACKOFF_CAP_SECONDS))


class Abandoned(Exception):
    """The work was given up: its consumer stops or lost its channel (the broker redelivers)."""


class Pause:
    """Shared by the deliveries of one subscriber: while a dependency is down, one delivery
    (the leader) tries its work again with a backoff, the others wait, and none of them is
    nacked. Deliveries that arrive meanwhile wait before their first try, so the subscriber
    works on nothing new; prefetch caps what it holds. When the leader's try gets past the
    outage (success, or an error of the message's own) everyone resumes.

    A paused delivery is never nacked, so an outage never counts against the delivery limit.
    """

    def __init__(
        self,
        name: str,
        backoff: Callable[[int], float] = outage_backoff,
        *,
        outage: Callable[[BaseException], bool] = is_outage,
    ) -> None:
        self._name = name
        self._backoff = backoff
        self._outage = outage
        self._open = asyncio.Event()
        self._open.set()
        self._leader = False

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    async def _wait_open(self, alive: Callable[[], bool]) -> None:
        while not self._open.is_set():
            if not alive():
                raise Abandoned
            with contextlib.suppress(TimeoutError):  # look at alive() every second
                await asyncio.wait_for(self._open.wait(), 1.0)

    async def run(self, work: Callable[[], Awaitable[T]], alive: Callable[[], bool]) -> T:
        """`work()`, again and again while it fails with an outage. `alive()` False (the
        consumer stops, its channel closed) gives up with `Abandoned`. Other errors propagate."""
        leading = False
        attempt = 0
        try:
            while True:
                if not leading:
                    await self._wait_open(alive)
                if not alive():
                    raise Abandoned
                try:
                    return await work()
                except Exception as exc:
                    if not self._outage(exc):
                        raise
                    if not leading and self._leader:
                        continue  # someone leads already: wait with the others
                    if not leading:
                        leading = self._leader = True
                        self._open.clear()
                        PAUSED.labels(self._name).set(1)
                        log.warning("%s: paused, a dependency is down: %r", self._name, exc)
                    await asyncio.sleep(self._backoff(attempt))
                    attempt += 1
        finally:
            if leading:
                self._leader = False
                self._open.set()
                PAUSED.labels(self._name).set(0)
                log.warning("%s: resumed", self._name)

"""Outage or the message's own failure, and how a subscriber's deliveries wait an outage out."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aiormq.connection
import asyncpg
import pytest
import sqlalchemy.exc
from asyncpg.exceptions._base import DataError as DriverDataError

from shared.messaging.consumer import is_poison, permanent_errors
from shared.messaging.outage import Abandoned, Pause, is_outage, refused_data


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> sqlalchemy.exc.DBAPIError:
    """What SQLAlchemy raises around a driver error."""
    try:
        raise sqlalchemy.exc.DBAPIError(
            "SELECT 1", None, orig, connection_invalidated=invalidated
        ) from orig
    except sqlalchemy.exc.DBAPIError as exc:
        return exc


def _raised_while_handling(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except type(inner):
            raise outer  # noqa: B904 (the implicit context is the point)
    except type(outer) as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "Connection reset by peer"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        TimeoutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        _wrapped(RuntimeError("connection was closed"), invalidated=True),
        sqlalchemy.exc.OperationalError("SELECT 1", None, RuntimeError("server closed")),
        sqlalchemy.exc.InterfaceError("SELECT 1", None, RuntimeError("connection is closed")),
        _wrapped(asyncpg.CannotConnectNowError("the database system is shutting down")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_unreachable_dependency_is_an_outage(exc: BaseException) -> None:
    assert is_outage(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad body"),
        KeyError("tenant"),
        RuntimeError("bug"),
        FileNotFoundError("template.txt"),
        PermissionError("denied"),
        _wrapped(asyncpg.UniqueViolationError("duplicate key")),
        _wrapped(asyncpg.DataError("invalid byte sequence")),
        _raised_while_handling(ConnectionResetError(), KeyError("own bug")),
        # A busy pool, not a database gone (consumers never outrun it: shared.messaging.slots).
        sqlalchemy.exc.TimeoutError("QueuePool limit of size 5 overflow 2 reached"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_failure_of_the_message_itself_is_not_an_outage(exc: BaseException) -> None:
    assert not is_outage(exc)


# What SQLAlchemy's asyncpg dialect raises for values refused: by the server (its SQLSTATE), or
# by asyncpg before sending (its own DataError, an InterfaceError too: poison however wrapped,
# even in SQLAlchemy's InterfaceError, which otherwise says a connection is gone).
REFUSED_VALUES = [
    _wrapped(asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8"')),
    _wrapped(asyncpg.NumericValueOutOfRangeError("value out of range for type integer")),
    _wrapped(asyncpg.StringDataRightTruncationError("value too long for type varchar(100)")),
    _wrapped(asyncpg.DatetimeFieldOverflowError("date/time field value out of range")),
    _wrapped(asyncpg.NotNullViolationError('null value in column "tenant_id"')),
    _wrapped(asyncpg.CheckViolationError("violates check constraint")),
    sqlalchemy.exc.InterfaceError(
        "INSERT", None, DriverDataError("invalid input for query argument $1 (out of int64 range)")
    ),
]


@pytest.mark.parametrize("exc", REFUSED_VALUES, ids=lambda e: type(getattr(e, "orig", e)).__name__)
def test_values_the_database_refuses_are_poison_never_an_outage(exc: BaseException) -> None:
    assert refused_data(exc)
    assert not is_outage(exc)
    assert is_poison(exc, permanent_errors())


@pytest.mark.parametrize(
    "exc",
    [
        # A race or another order of events may resolve these: retried, not dead-lettered.
        _wrapped(asyncpg.UniqueViolationError("duplicate key")),
        _wrapped(asyncpg.ForeignKeyViolationError("violates foreign key constraint")),
        _wrapped(asyncpg.DeadlockDetectedError("deadlock detected")),
        RuntimeError("bug"),
        # Outages stay outages.
        sqlalchemy.exc.InterfaceError("SELECT 1", None, RuntimeError("connection is closed")),
        _wrapped(asyncpg.CannotConnectNowError("the database system is shutting down")),
    ],
    ids=lambda e: type(getattr(e, "orig", e)).__name__,
)
def test_races_bugs_and_outages_are_not_poison(exc: BaseException) -> None:
    assert not refused_data(exc)
    assert not is_poison(exc, permanent_errors())


async def test_one_delivery_probes_while_the_others_wait_then_all_resume() -> None:
    pause = Pause("q", backoff=lambda _n: 0.01)
    down = True
    tries: list[int] = []

    async def work(n: int) -> int:
        tries.append(n)
        await asyncio.sleep(0)
        if down:
            raise ConnectionRefusedError("database down")
        return n

    runs = [asyncio.create_task(pause.run(lambda n=n: work(n), lambda: True)) for n in range(10)]
    await asyncio.sleep(0.2)
    assert pause.paused
    during = len(tries)
    # Each delivery tried once, then only the leader kept trying (every 0.01 s).
    assert 10 < during < 10 + 40
    assert len(set(tries[10:])) == 1
    down = False
    assert sorted(await asyncio.gather(*runs)) == list(range(10))
    assert not pause.paused


async def test_an_error_of_its_own_ends_the_pause_and_reaches_the_caller() -> None:
    pause = Pause("q", backoff=lambda _n: 0.01)
    failures = iter([ConnectionRefusedError("down"), ConnectionRefusedError("down")])

    async def work() -> None:
        raise next(failures, KeyError("own bug"))

    with pytest.raises(KeyError):
        await pause.run(work, lambda: True)
    assert not pause.paused


async def test_a_paused_delivery_is_abandoned_when_its_consumer_stops() -> None:
    pause = Pause("q", backoff=lambda _n: 0.01)
    alive = True

    async def work() -> None:
        raise ConnectionRefusedError("down")

    run = asyncio.create_task(pause.run(work, lambda: alive))
    await asyncio.sleep(0.05)
    alive = False
    with pytest.raises(Abandoned):
        await asyncio.wait_for(run, 2)
    assert not pause.paused


async def _handshake_on_a_closed_socket() -> StopAsyncIteration:
    """What aiormq raises when the broker closed the socket before its first frame was read."""
    reader = asyncio.StreamReader()
    reader.feed_eof()
    try:
        await aiormq.connection.FrameReceiver(reader).get_frame()
    except StopAsyncIteration as exc:
        return exc
    raise AssertionError("aiormq read a frame from a closed socket")


async def test_a_broker_closing_during_the_handshake_is_an_outage() -> None:
    assert is_outage(await _handshake_on_a_closed_socket())


def test_a_stop_async_iteration_of_its_own_is_not_an_outage() -> None:
    try:
        raise StopAsyncIteration
    except StopAsyncIteration as exc:
        assert not is_outage(exc)


def test_a_date_or_number_past_its_range_is_poison() -> None:
    """A loss on 9999-12-31 whose follow-up falls after it: the same on every delivery."""
    try:
        datetime.max + timedelta(days=3)
    except OverflowError as exc:
        assert is_poison(exc, permanent_errors())
        assert not is_outage(exc)
    else:
        raise AssertionError("no overflow")

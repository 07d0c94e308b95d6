"""Waits between tries while the broker or a database is down stay short and bounded, so work
resumes within a couple of seconds of the dependency's return; a queue RabbitMQ has not brought
up yet after a restart is waited for at start, a topology that does not fit is not."""

from __future__ import annotations

import asyncio
import random

import aiormq.connection
import aiormq.exceptions
import pytest
from aio_pika.connection import make_url

from shared.messaging.outage import (
    OUTAGE_BACKOFF_CAP_SECONDS,
    is_outage,
    outage_backoff,
    queue_not_up,
)
from shared.messaging.reconnect import JITTER, RECONNECT_SECONDS, QuickReconnect, reconnect_delay
from shared.outbox import RETRY_CAP_SECONDS, retry_delay
from shared.runtime import until_reachable

NOT_UP_TEXTS = [
    "NOT_FOUND - failed to perform operation on queue 'metrics.lead.ingested.v1' in vhost '/' "
    "due to timeout",
    "NOT_FOUND - home node 'rabbit@x' of durable queue 'q' in vhost '/' is down or inaccessible",
    "NOT_FOUND - queue 'q' in vhost '/' process is stopped by supervisor",
]


def test_reconnect_waits_are_jittered_around_the_base_and_never_above_its_cap() -> None:
    rng = random.Random(7)
    waits = [reconnect_delay(RECONNECT_SECONDS, rng) for _ in range(1000)]
    assert min(waits) >= RECONNECT_SECONDS * (1 - JITTER)
    assert max(waits) <= RECONNECT_SECONDS * (1 + JITTER)
    assert len({round(w, 3) for w in waits}) > 100  # replicas do not all knock at once


async def test_the_connection_waits_what_it_was_given_not_aio_pikas_fixed_5_s() -> None:
    connection = QuickReconnect(make_url("amqp://guest:guest@127.0.0.1:1/"), reconnect_interval=2)
    assert connection.base_interval == 2.0
    waits = [connection.reconnect_interval for _ in range(200)]  # what aio-pika sleeps
    assert all(2.0 * (1 - JITTER) <= w <= 2.0 * (1 + JITTER) for w in waits)
    default = QuickReconnect(make_url("amqp://guest:guest@127.0.0.1:1/"))
    assert default.base_interval == RECONNECT_SECONDS  # aio-pika's own default would be 5


def test_outage_backoff_doubles_from_a_quarter_second_up_to_its_cap() -> None:
    waits = [outage_backoff(n) for n in range(30)]
    assert waits[:4] == [0.25, 0.5, 1.0, 2.0]
    assert max(waits) == OUTAGE_BACKOFF_CAP_SECONDS <= 2.0
    assert waits == sorted(waits)


def test_an_outbox_row_the_broker_did_not_confirm_waits_at_most_the_cap() -> None:
    assert retry_delay(0) == pytest.approx(0.2)
    assert max(retry_delay(n) for n in range(40)) == RETRY_CAP_SECONDS <= 2.0


@pytest.mark.parametrize("text", NOT_UP_TEXTS)
def test_a_queue_rabbitmq_has_not_brought_up_is_not_up_yet(text: str) -> None:
    exc = aiormq.exceptions.ChannelNotFoundEntity(text)
    assert queue_not_up(exc)
    assert not is_outage(exc)  # for consumers it stays what it was


@pytest.mark.parametrize(
    "exc",
    [
        aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no exchange 'x' in vhost '/'"),
        aiormq.exceptions.ChannelPreconditionFailed(
            "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q'"
        ),
        ValueError("bad"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_topology_that_does_not_fit_is_no_queue_coming_up(exc: BaseException) -> None:
    assert not queue_not_up(exc)


async def stream_ended_under_aiormq() -> StopAsyncIteration:
    """What aiormq raises reading a frame from a link the other end already closed (a proxy or
    a node closing it during the handshake): a bare StopAsyncIteration, no AMQPConnectionError."""
    reader = asyncio.StreamReader()
    reader.feed_eof()
    try:
        await aiormq.connection.FrameReceiver(reader).get_frame()
    except StopAsyncIteration as exc:
        return exc
    raise AssertionError("aiormq no longer raises StopAsyncIteration on a closed link")


async def test_a_link_closed_under_aiormq_is_an_outage_a_handlers_own_iterator_is_not() -> None:
    assert is_outage(await stream_ended_under_aiormq())

    async def exhausted() -> None:
        await anext(_Empty())  # a handler's own bug, raised outside aiormq

    try:
        await exhausted()
    except StopAsyncIteration as exc:
        assert not is_outage(exc)
    else:
        raise AssertionError("expected StopAsyncIteration")


class _Empty:
    def __aiter__(self) -> _Empty:
        return self

    async def __anext__(self) -> None:
        raise StopAsyncIteration


async def test_startup_waits_for_a_queue_coming_up_and_fails_on_anything_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shared.runtime.outage_backoff", lambda _n: 0.0)
    answers: list[BaseException | None] = [
        aiormq.exceptions.ChannelNotFoundEntity(NOT_UP_TEXTS[0]),
        aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED - shutdown"),
        await stream_ended_under_aiormq(),  # chaos: recovery-1 exited with code 3 on it
        None,
    ]
    tries = 0

    async def attempt() -> None:
        nonlocal tries
        tries += 1
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    await until_reachable("broker", "t", attempt, transient=queue_not_up_or_outage)
    assert tries == 4

    async def mismatch() -> None:
        raise aiormq.exceptions.ChannelPreconditionFailed("PRECONDITION_FAILED - inequivalent")

    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
        await until_reachable("broker", "t", mismatch, transient=queue_not_up_or_outage)


def queue_not_up_or_outage(exc: BaseException) -> bool:
    return is_outage(exc) or queue_not_up(exc)

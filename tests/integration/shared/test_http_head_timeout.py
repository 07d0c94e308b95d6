"""A request head trickled a byte at a time (slowloris) is answered 408 once the configured head
timeout has passed, however steadily the bytes keep coming, and the server keeps answering other
clients meanwhile: served by uvicorn with `shared.http.server_options`, as every service is.

No timing assertions beyond generous bounds: the timeout is set small (`HEAD_TIMEOUT`) and the
test checks outcomes and their order (others served while the slow head was pending; the slow
client still sending when it was cut off)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from shared.http import HttpLimits, server_options
from shared.testing.ports import free_port

pytestmark = pytest.mark.integration

HEAD_TIMEOUT = 1.0  # seconds; the default is 30
GIVE_UP = 30 * HEAD_TIMEOUT  # the test's own patience: far beyond the timeout


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    port = free_port()
    limits = HttpLimits(header_timeout_seconds=HEAD_TIMEOUT)
    config = uvicorn.Config(
        _app, port=port, log_level="warning", lifespan="off", **server_options(limits)
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                await asyncio.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        await serving


async def _trickle(port: int, head: bytes, gap: float) -> tuple[bytes, int]:
    """Send `head` one byte every `gap` seconds, reading meanwhile; the answer (until the
    server closes) and how many bytes had been sent when it came."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0

    async def send() -> None:
        nonlocal sent
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.sleep(gap)

    sending = asyncio.create_task(send())
    try:
        async with asyncio.timeout(GIVE_UP):
            answer = await reader.read()
        return answer, sent
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


async def test_a_head_trickled_a_byte_at_a_time_is_408_while_others_are_served(port: int) -> None:
    # Far longer than the timeout at one byte per 50 ms (a per-piece timer would never fire).
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000 + b"\r\n\r\n"
    slow = asyncio.create_task(_trickle(port, head, gap=0.05))
    served_meanwhile = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=GIVE_UP) as client:
        while not slow.done():
            r = await client.get("/", headers={"Connection": "close"})  # a new connection each
            assert (r.status_code, r.text) == (200, "ok")
            served_meanwhile += 1
            await asyncio.sleep(0.02)
    answer, sent = await slow
    assert _status(answer) == 408, answer
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body == {"detail": f"the request head did not arrive within {HEAD_TIMEOUT:g} s"}
    assert b"connection: close" in answer.lower()
    assert 0 < sent < len(head)  # cut off while still sending, not after the head was done
    assert served_meanwhile > 0  # the worker answered others while the slow head was pending


async def test_a_connection_that_sends_nothing_is_408(port: int) -> None:
    answer, _ = await _trickle(port, b"", gap=0.05)
    assert _status(answer) == 408


async def test_a_head_in_time_on_a_kept_alive_connection_is_served(port: int) -> None:
    """The deadline ends with each head: requests on one connection past the timeout in total
    are served."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=GIVE_UP) as client:
        for _ in range(3):
            assert (await client.get("/")).status_code == 200
            await asyncio.sleep(HEAD_TIMEOUT / 2)
        assert (await client.get("/")).status_code == 200

"""Request limits on a real uvicorn server, served the way `shared.runtime.serve` serves every
service: oversized request heads are 431, a body that stops arriving is 408."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from intake.entrypoints.http.app import create_app
from shared.auth import issue_token
from shared.http import HttpLimits, server_options
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.ports import free_port
from tests.integration.intake.conftest import Intake, intake_settings

pytestmark = pytest.mark.integration

BODY_TIMEOUT = 1.0  # seconds; the default is 30


@dataclass
class Served:
    port: int
    api_key: str


@pytest.fixture
async def served(
    database_url: str, common_settings: CommonSettings, topology: Topology
) -> AsyncIterator[Served]:
    limits = HttpLimits(body_timeout_seconds=BODY_TIMEOUT)
    app = create_app(
        intake_settings(database_url, common_settings), topology=topology, http_limits=limits
    )
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        **server_options(limits),
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                await asyncio.sleep(0.05)
        token = issue_token(common_settings, subject="t", role="admin", tenant="acme")
        admin = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            dealership = await client.post(
                "/v1/admin/dealerships",
                json={"name": "d", "country": "CA", "timezone": "America/Toronto"},
                headers=admin,
            )
            source = await client.post(
                "/v1/admin/sources",
                json={"name": "s", "kind": "website", "dealership_id": dealership.json()["id"]},
                headers=admin,
            )
        yield Served(port, source.json()["api_key"])
    finally:
        server.should_exit = True
        await serving


async def _exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes; the status and body of the answer (read until the server closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(30):
            answer = await reader.read()  # to EOF: every refusal closes the connection
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_a_one_megabyte_header_is_431(served: Served) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    status, body = await _exchange(served.port, request)
    assert status == 431
    assert json.loads(body)["detail"] == "request line and headers over 32768 bytes"


async def test_a_header_that_never_ends_is_431_before_it_is_all_kept(served: Served) -> None:
    """Refused while it arrives (uvicorn's httptools kept everything until the head ended, and
    this one never does): only the server can answer this, not the app."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 1_000_000
    status, _ = await _exchange(served.port, request)
    assert status == 431


async def test_five_thousand_headers_are_431(served: Served) -> None:
    fields = b"".join(b"X-H%d: 1\r\n" % i for i in range(5_000))
    status, _ = await _exchange(
        served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
    )
    assert status == 431


async def test_more_header_fields_than_the_limit_is_431_however_small(served: Served) -> None:
    fields = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))  # 1.5 KB
    status, body = await _exchange(
        served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
    )
    assert status == 431
    assert json.loads(body)["detail"] == "more than 100 header fields"


async def test_a_request_within_the_limits_is_served(served: Served) -> None:
    fields = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 200) for i in range(90))  # 90 fields, 19 KB
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n"
    status, body = await _exchange(served.port, request)
    assert (status, json.loads(body)) == (200, {"status": "ok"})


async def test_a_body_that_stops_arriving_is_408(served: Served) -> None:
    request = (
        b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Api-Key: " + served.api_key.encode() + b"\r\nContent-Length: 200000\r\n\r\n"
        b'{"email":'  # 9 of the 200,000 bytes it declared, then nothing
    )
    status, body = await _exchange(served.port, request)
    assert status == 408
    assert "stopped arriving" in json.loads(body)["detail"]


async def test_the_limits_hold_without_uvicorn_too(intake: Intake) -> None:
    """The same limits as ASGI middleware, whatever serves the app (here httpx's transport)."""
    many = {f"X-H{i}": "1" for i in range(150)}
    r = await intake.client.get("/healthz", headers=many)
    assert r.status_code == 431
    r = await intake.client.get("/healthz", headers={"X-Big": "a" * 40_000})
    assert r.status_code == 431
    assert (await intake.client.get("/healthz")).status_code == 200


async def test_uvicorn_itself_refuses_heads_over_the_limits() -> None:
    """The server layer alone (an app without the middleware): the head is refused before the
    app sees it, whether it arrives in one piece or never ends."""
    seen: list[str] = []

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    config = uvicorn.Config(
        bare, port=port, log_level="warning", lifespan="off", **server_options()
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                await asyncio.sleep(0.05)
        head = b"GET / HTTP/1.1\r\nHost: x\r\n"
        for extra in (
            b"".join(b"X-H%d: 1\r\n" % i for i in range(150)) + b"\r\n",
            b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n",
            b"X-Endless: " + b"a" * 1_000_000,
        ):
            status, _ = await _exchange(port, head + extra)
            assert status == 431
        assert seen == []
        status, _ = await _exchange(port, head + b"Connection: close\r\n\r\n")
        assert (status, seen) == (200, ["http"])
    finally:
        server.should_exit = True
        await serving

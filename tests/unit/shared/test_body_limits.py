"""assignment and recovery refuse a request body over `<SERVICE>_MAX_BODY_BYTES` with 413
(`shared.http.limit_body`), as documented (`{"detail": ...}`), before reading it when its
Content-Length says so, and document the 413 on every route that takes a body. The apps are not
started: the limit answers before any dependency (token, database) is looked at."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from assignment.config import AssignmentSettings
from assignment.entrypoints.http.app import create_app as assignment_app
from recovery.config import RecoverySettings
from recovery.entrypoints.http.app import create_app as recovery_app
from shared.http import DEFAULT_MAX_BODY_BYTES
from shared.settings import CommonSettings

LIMIT = 4096


@dataclass(frozen=True)
class Service:
    build: Callable[[int], FastAPI]
    method: str
    path: str  # a route with a JSON body
    setting: str


SERVICES = {
    "assignment": Service(
        lambda limit: assignment_app(AssignmentSettings(max_body_bytes=limit)),
        "POST",
        "/v1/consultants",
        "ASSIGNMENT_MAX_BODY_BYTES",
    ),
    "recovery": Service(
        lambda limit: recovery_app(RecoverySettings(max_body_bytes=limit)),
        "PUT",
        "/v1/recovery/cadences",
        "RECOVERY_MAX_BODY_BYTES",
    ),
}


@pytest.fixture(params=list(SERVICES))
def service(request: pytest.FixtureRequest) -> Service:
    return SERVICES[request.param]


async def _send(service: Service, content: Any) -> httpx.Response:
    app = service.build(LIMIT)
    app.state.common_settings = CommonSettings()  # what the token check reads
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(
            service.method,
            service.path,
            content=content,
            headers={"Content-Type": "application/json"},
        )


def _json(size: int) -> bytes:
    return b'{"name": "' + b"n" * (size - 12) + b'"}'


async def test_a_body_over_the_limit_is_refused_with_413_before_anything_else(
    service: Service,
) -> None:
    r = await _send(service, _json(LIMIT + 1))  # no token: still 413, the body comes first
    assert r.status_code == 413, r.text
    assert r.json()["detail"]


async def test_a_body_sent_without_a_length_is_refused_once_past_the_limit(
    service: Service,
) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * 2048  # JSON whitespace: only its size is wrong

    r = await _send(service, pieces())
    assert r.status_code == 413, r.text
    assert r.json()["detail"]


async def test_a_body_within_the_limit_is_not_refused_for_its_size(service: Service) -> None:
    r = await _send(service, _json(LIMIT))
    assert r.status_code == 401, r.text  # on to the token check


def test_the_default_limit_is_the_shared_one() -> None:
    assert AssignmentSettings().max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert RecoverySettings().max_body_bytes == DEFAULT_MAX_BODY_BYTES


def test_every_route_with_a_body_documents_the_413(service: Service) -> None:
    document = service.build(DEFAULT_MAX_BODY_BYTES).openapi()
    with_body = [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert with_body
    for path, method, operation in with_body:
        answer = operation["responses"].get("413")
        assert answer is not None, f"{method} {path}: no 413"
        assert service.setting in answer["description"], f"{method} {path}"

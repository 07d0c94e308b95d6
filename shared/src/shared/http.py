"""HTTP pieces every service shares: limits on requests, 503 during a database outage, health,
and the error bodies the services answer with, as models for their OpenAPI documents
(`responses=` of each route).

`harden(app)` puts the limits, the bounded 422 and the outage handler on an app;
`shared.runtime.serve` does it for every service and serves it with `server_options()` (uvicorn,
whose httptools protocol is given a bound on the request head: see `LimitedHttpToolsProtocol`).

Limits (environment, `FORECOURT_HTTP_*`, see `HttpLimits`):
- the request line and headers together at most `MAX_HEADER_BYTES`, at most `MAX_HEADERS`
  header fields: past either, 431 and the connection is closed;
- a body must keep arriving: each piece within `BODY_TIMEOUT_SECONDS` of the last, else 408
  and the connection is closed (a body that declared 200,000 bytes and sent 9 held its request
  for ever). Per piece, not per body: a large upload on a slow link is fine while it moves.
- the request head must be complete within `HEADER_TIMEOUT_SECONDS` of the connection opening
  (or, on a kept-alive connection, of the next request's first byte), else 408 and the
  connection is closed. For the whole head, not per piece: a client trickling its headers a
  byte at a time (slowloris) would otherwise hold a connection for ever.
- a 422 echoes a bounded part of what it refuses (`bounded_validation_errors`), never the
  whole of a 5 MB string or a 10,000-item list.

Request bodies are limited per service or per route, not by `harden` (intake takes CSV files
of a gigabyte): `limit_body(app, max_bytes)` holds every route of an app to one limit
(assignment, recovery: `DEFAULT_MAX_BODY_BYTES` unless set), `read_body(request, limit)` reads
one route's body within its own (intake's leads). Both answer the same 413 (`body_too_large`,
the app's handler writing `{"detail": ...}`), before reading the body when its Content-Length is
over the limit, else as soon as what arrived is; routes document it with `too_large(setting)`.
FastAPI's own `max_body_size` was not used: past a declared Content-Length it replaces whatever
the app answers with a plain-text 413, which no route's document describes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from importlib import import_module
from typing import Any, ClassVar

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


class HttpLimits(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECOURT_HTTP_", extra="ignore")

    # The request line (with the query string) and every header field, names and values.
    max_header_bytes: int = Field(default=32_768, ge=1024)
    max_headers: int = Field(default=100, ge=10)
    # Longest wait for the next piece of a request body.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    # Longest wait for a whole request head (request line and headers).
    header_timeout_seconds: float = Field(default=30.0, gt=0)
    # Retry-After of a 503 answered during a database outage.
    retry_after_seconds: int = Field(default=5, ge=1)


@functools.cache
def default_limits() -> HttpLimits:
    return HttpLimits()


# SQLSTATEs that say "not now" rather than "not this statement": connection exceptions (08...),
# the server shutting down or starting (57P01-57P03), too many connections, out of resources.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "53400"})
# Serialization failure, deadlock detected, lock not available.
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (SQLAlchemy's `orig`, `raise ... from`)."""
    out: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or any(error is seen for seen in out):
            continue
        out.append(error)
        pending += [getattr(error, "orig", None), error.__cause__]
    return out


def _sqlstate(error: BaseException) -> str:
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else ""


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be reached now: down,
    restarting, the connection lost, the pool exhausted. Such an error is an outage to wait
    out, never a reason to mark a message or a row as failed."""
    for error in _causes(exc):
        if isinstance(error, OSError | TimeoutError | sqlalchemy.exc.TimeoutError):
            return True  # ConnectionRefusedError, a connect timeout, the pool's timeout
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        sqlstate = _sqlstate(error)
        if sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES:
            return True
    return False


def database_transient(exc: BaseException) -> bool:
    """An outage, or a transaction that lost a race (deadlock, serialization failure, lock
    not available): the same work succeeds when tried again later."""
    return database_unavailable(exc) or any(
        _sqlstate(error) in _CONFLICT_SQLSTATES for error in _causes(exc)
    )


def add_outage_handler(app: FastAPI, retry_after: int | None = None) -> None:
    """A request that fails because the database is down (or lost a race: a deadlock, a
    serialization failure) answers 503 with `Retry-After`, not 500: the caller should send it
    again, and lead providers do on a 503. Any other error stays a 500."""
    seconds = retry_after or default_limits().retry_after_seconds

    async def unavailable(request: Request, exc: Exception) -> Response:
        if not database_transient(exc):
            raise exc  # a bug: the server error handler answers 500 and logs it
        log.warning("%s %s: database unavailable (%s)", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the database is unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": str(seconds)},
        )

    # By class, so Starlette's exception middleware answers (and nothing re-raises after the
    # answer): SQLAlchemy's wrapped driver errors, a refused or timed-out connect, the pool's
    # timeout.
    for error in (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError, OSError):
        app.add_exception_handler(error, unavailable)


# --- request limits ---------------------------------------------------------------------------


def _too_large(limits: HttpLimits, scope: Scope) -> str | None:
    headers = scope["headers"]
    if len(headers) > limits.max_headers:
        return f"more than {limits.max_headers} header fields"
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    size += sum(len(name) + len(value) + 4 for name, value in headers)  # ": " and CRLF
    if size > limits.max_header_bytes:
        return f"request line and headers over {limits.max_header_bytes} bytes"
    return None


def _closing_json(status: int, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


class RequestLimits:
    """ASGI middleware: 431 past the header limits, 408 when a body stops arriving.

    Whatever the server, so the limits hold behind any of them (and in tests through httpx's
    ASGI transport); with `server_options()` uvicorn refuses an oversized head before it has
    buffered it whole."""

    def __init__(self, app: ASGIApp, limits: HttpLimits | None = None) -> None:
        self.app = app
        self.limits = limits or default_limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (reason := _too_large(self.limits, scope)) is not None:
            headers, body = _closing_json(431, reason)
            await send({"type": "http.response.start", "status": 431, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, _BodyDeadline(receive, self.limits.body_timeout_seconds), send)


class _BodyDeadline:
    """`receive`, giving up (408) when the next piece of the body is not there in time. Once
    the body is complete, `receive` only waits for a disconnect: no deadline then."""

    def __init__(self, receive: Receive, seconds: float) -> None:
        self._receive = receive
        self._seconds = seconds
        self._more = True

    async def __call__(self) -> Message:
        if not self._more:
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), self._seconds)
        except TimeoutError:
            raise HTTPException(
                408,
                f"the request body stopped arriving: nothing for {self._seconds:g} s",
                headers={"Connection": "close"},
            ) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._more = False
        return message


# --- request bodies ---------------------------------------------------------------------------

# The default of `<SERVICE>_MAX_BODY_BYTES` where a service's bodies are JSON of a few kilobytes
# (assignment, recovery): several times the largest likely one (a dealership's routing rules),
# far below what holds the event loop to parse.
DEFAULT_MAX_BODY_BYTES = 1_000_000


def body_too_large(limit: int, declared: int | None = None) -> HTTPException:
    """The 413 of a body over `limit` bytes (`declared`: what its Content-Length said)."""
    if declared is not None:
        return HTTPException(413, f"body is {declared} bytes; the limit is {limit}")
    return HTTPException(413, f"body is over the limit of {limit} bytes")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class _BoundedBody:
    """`receive`, refusing (413) a body whose Content-Length is over the limit before reading
    any of it (a client waiting for `100 Continue` sends none), or once what came is over it."""

    def __init__(self, receive: Receive, limit: int, declared: int | None) -> None:
        self._receive = receive
        self._limit = limit
        self._declared = declared
        self._received = 0

    async def __call__(self) -> Message:
        if self._declared is not None and self._declared > self._limit:
            raise body_too_large(self._limit, self._declared)
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                raise body_too_large(self._limit)
        return message


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` answers 413 (`body_too_large`), raised
    where the route reads it, so the app's handler answers as for any HTTPException; a route
    that reads no body is not held to it. Added by `limit_body`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bounded = _BoundedBody(receive, self.max_bytes, _declared_length(scope))
        await self.app(scope, bounded, send)


def limit_body(app: FastAPI, max_bytes: int) -> FastAPI:
    """Every route of `app` refuses a body over `max_bytes` with 413 (once: a second call does
    nothing). Routes with a body document it with `too_large`."""
    if not any(getattr(m, "cls", None) is BodyLimit for m in app.user_middleware):
        app.add_middleware(BodyLimit, max_bytes=max_bytes)
    return app


async def read_body(request: Request, limit: int) -> bytes:
    """A route's body, read by the route itself within its own `limit`: 413 past it, before
    reading any of it when its Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise body_too_large(limit, int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise body_too_large(limit)
    return bytes(body)


# --- what a 422 echoes ------------------------------------------------------------------------

# FastAPI's 422 copies each refused value back (`input`): all 5 MB of an over-long name, every
# one of 10,000 absences. Encoding that copy (`jsonable_encoder` walks it in Python) and sending
# it held the event loop longer than reading the request: measured on a loaded 2-core machine,
# 0.9-1.2 s for 10,000 absences (a 620 KB answer), /healthz waiting behind it. The echo keeps
# enough to recognise the value, within a fixed budget however large or wide the input.
ECHO_CHARS = 200  # of a string (or a key), then a note of its length
ECHO_ITEMS = 10  # of a list or an object, then a note of how many more
ECHO_VALUES = 200  # of one error's input in all, however nested
ECHO_ERRORS = 100  # errors in one answer


class _Echo:
    def __init__(self) -> None:
        self.left = ECHO_VALUES

    def text(self, value: str) -> str:
        if len(value) <= ECHO_CHARS:
            return value
        return f"{value[:ECHO_CHARS]}... ({len(value)} characters)"

    def __call__(self, value: Any) -> Any:
        self.left -= 1
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value[: ECHO_CHARS + 1]).decode("utf-8", "replace"))
        if isinstance(value, dict):
            if self.left <= 0:
                return f"... (an object of {len(value)} keys)"
            shown: dict[str, Any] = {}
            for key, item in list(value.items())[:ECHO_ITEMS]:
                shown[self.text(str(key))] = self(item)
            if len(value) > ECHO_ITEMS:
                shown["..."] = f"{len(value) - ECHO_ITEMS} more keys"
            return shown
        if isinstance(value, list | tuple):
            if self.left <= 0:
                return f"... (a list of {len(value)} items)"
            listed = [self(item) for item in value[:ECHO_ITEMS]]
            if len(value) > ECHO_ITEMS:
                listed.append(f"... {len(value) - ECHO_ITEMS} more items")
            return listed
        return value


def bounded_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's 422 issues (`RequestValidationError.errors()`), each `input` cut to a fixed
    budget (`ECHO_*`), at most `ECHO_ERRORS` of them; the rest as FastAPI gives it."""
    bounded: list[dict[str, Any]] = []
    for error in list(errors)[:ECHO_ERRORS]:
        issue = dict(error)
        if "input" in issue:
            issue["input"] = _Echo()(issue["input"])
        bounded.append(issue)
    encoded: list[dict[str, Any]] = jsonable_encoder(bounded)
    return encoded


async def bounded_validation_answer(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a request that does not fit its route, with a bounded echo."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": bounded_validation_errors(exc.errors())}, status_code=422)


def harden(app: FastAPI, limits: HttpLimits | None = None) -> FastAPI:
    """The request limits, the bounded 422 and the 503 outage handler, once (a second call
    does nothing)."""
    if any(getattr(m, "cls", None) is RequestLimits for m in app.user_middleware):
        return app
    limits = limits or default_limits()
    app.add_middleware(RequestLimits, limits=limits)
    app.add_exception_handler(RequestValidationError, bounded_validation_answer)
    add_outage_handler(app, limits.retry_after_seconds)
    return app


APP_FACTORY_ENV = "FORECOURT_APP_FACTORY"


def hardened_app() -> Any:
    """uvicorn's app factory when a service runs several worker processes: builds the app
    named in FORECOURT_APP_FACTORY (`module:function`) and hardens it."""
    module, _, name = os.environ[APP_FACTORY_ENV].partition(":")
    return harden(getattr(import_module(module), name)())


LINGER_SECONDS = 10.0
_STATUS_LINES = {
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing an oversized request head with 431 as it arrives.

    httptools (llhttp) has no limit of its own: uvicorn kept a 1 MB header, or 5,000 of them,
    and handed them to the app. This counts the head as it is parsed (exactly) and, while it is
    still arriving, the bytes received for it (a single header not yet complete included: a
    bound, which with pipelined requests may include the tail of the previous body), and
    answers 431 and closes the connection past `HttpLimits.max_header_bytes` or `max_headers`,
    before buffering more. A head not complete within `HttpLimits.header_timeout_seconds` is
    answered 408 and the connection closed, the same way.
    """

    limits: ClassVar[HttpLimits | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = type(self).limits or default_limits()
        self._max_bytes = limits.max_header_bytes
        self._max_fields = limits.max_headers
        self._head_timeout = limits.header_timeout_seconds
        self._head_deadline: asyncio.TimerHandle | None = None
        self._in_head = False
        self._head_bytes = 0  # received while the head was incomplete
        self._fields = 0
        self._size = 0  # of the head's parts parsed so far
        self._refused: str | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_deadline()  # a connection that never sends a head is cut off too

    def _start_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _stop_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._refused is None and not self.transport.is_closing():
            seconds = f"{self._head_timeout:g}"
            self._refuse(f"the request head did not arrive within {seconds} s", status=408)

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            return
        super().data_received(data)
        if self._in_head and self._refused is None:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_bytes:
                self._refuse(f"request line and headers over {self._max_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._fields, self._size = True, 0, 0, 0
        self._start_head_deadline()  # kept the one from connection_made on a first request

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > self._max_fields:
            self._stop(f"more than {self._max_fields} header fields")
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        # The parsed head's exact size; a head still arriving is bounded in data_received.
        self._size += size
        if self._size > self._max_bytes:
            self._stop(f"request line and headers over {self._max_bytes} bytes")

    def _stop(self, reason: str) -> None:
        self._refused = reason
        raise ValueError(reason)  # stops the parser; send_400_response answers 431

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_deadline()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refused is not None:
            self._refuse(self._refused)
        else:
            super().send_400_response(msg)

    def _refuse(self, reason: str, status: int = 431) -> None:
        self._refused = reason
        self._stop_head_deadline()
        self.logger.warning("refused a request head: %s", reason)
        headers, body = _closing_json(status, reason)
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        line = _STATUS_LINES[status]
        self.transport.write(line + head)
        self.transport.write(b"\r\n" + body)
        # A lingering close: closing with the rest of the head unread would reset the
        # connection, and the client could lose the 431 before reading it. Send FIN, read and
        # drop what still comes, close when the client does or after LINGER_SECONDS.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_deadline()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)


def server_options(limits: HttpLimits | None = None) -> dict[str, Any]:
    """uvicorn options every service runs with (see the module's docstring)."""
    http: Any = "shared.http:LimitedHttpToolsProtocol"
    if limits is not None:  # limits other than the environment's: a protocol bound to them
        http = type("LimitedHttpTools", (LimitedHttpToolsProtocol,), {"limits": limits})
    limits = limits or default_limits()
    return {
        "http": http,
        # Should anyone choose http="h11" instead: its own bound on an incomplete head.
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }


class ErrorOut(BaseModel):
    """The body of an `HTTPException` with a sentence: 401, 403, 404, 409, 413, and some 422."""

    detail: str = Field(description="what is wrong, for a person")


class ValidationIssueOut(BaseModel):
    """One problem FastAPI found in the request (pydantic's error, as FastAPI answers it)."""

    type: str = Field(description="pydantic's error type, e.g. missing, uuid_parsing")
    loc: list[str | int] = Field(description='where: ["body", "email"], ["query", "limit"]')
    msg: str
    input: Any = Field(
        default=None,
        description="the value refused; a long string, list or object shortened, saying how much "
        "was left out",
    )
    ctx: dict[str, Any] | None = Field(default=None, description="the rule's parameters")


class InvalidRequestOut(BaseModel):
    """422 from FastAPI itself: a path, query, header or body value does not fit the route."""

    detail: list[ValidationIssueOut]


class FieldReasonOut(BaseModel):
    field: str
    reason: str


class FieldErrorsOut(BaseModel):
    """422 naming the fields a route's own checks refused (e.g. a bulk upload's mapping)."""

    detail: list[FieldReasonOut]


class HealthOut(BaseModel):
    status: str


def answer(model: Any, description: str) -> dict[str, Any]:
    """One entry of a route's `responses=`."""
    return {"model": model, "description": description}


STAFF_AUTH: dict[int | str, dict[str, Any]] = {
    401: answer(
        ErrorOut, "no staff bearer token, or one that is invalid, expired or not for this audience"
    ),
    403: answer(ErrorOut, "the token's role may not use this route"),
}
INVALID_REQUEST: dict[int | str, dict[str, Any]] = {
    422: answer(InvalidRequestOut, "a parameter or the body does not fit the route"),
}

# For routes whose JSON body FastAPI parses: bytes that are not text at all answer 400 (bad JSON
# text is a 422 json_invalid).
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: answer(ErrorOut, "the body cannot be parsed (not UTF-8 text)"),
}


def too_large(setting: str) -> dict[int | str, dict[str, Any]]:
    """For routes with a body: 413 past the limit the environment variable `setting` sets
    (`limit_body`, `read_body`)."""
    return {413: answer(ErrorOut, f"the body is over the size limit (`{setting}`)")}


# Routes that write: the database down (or a lost race) answers 503 with Retry-After
# (`add_outage_handler`).
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: answer(ErrorOut, "the database is unavailable: send it again after `Retry-After` seconds"),
}


def missing(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: answer(ErrorOut, what)}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON Schema with its `$defs` written in place, for an OpenAPI `openapi_extra`
    request body: there a `#/$defs/...` reference would point at the document's root, where
    nothing is. Recursive models cannot be inlined and raise ValueError."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise ValueError(f"{model.__name__}: {name} is recursive")
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return resolve(defs[name], (*seen, name)) | resolve(rest, seen)
            return {k: resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    inlined: dict[str, Any] = resolve(schema, ())
    return inlined


def add_health_routes(app: FastAPI) -> None:
    """`/healthz` (the process answers) and `/readyz` (its database and broker answer).

    `/readyz` reads `app.state.runtime`, the service's `shared.runtime.Runtime`."""

    @app.get("/healthz", tags=["ops"], response_model=HealthOut)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=dict[str, str],
        responses={503: answer(dict[str, str], "the database or the broker is down")},
    )
    async def readyz(request: Request) -> Any:
        """`{"database": "ok", "broker": "ok"}`; 503 with the same keys when one is down."""
        checks = await request.app.state.runtime.health()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if ok else 503)


async def app_unit_of_work(request: Request) -> Any:
    """A dependency: a new unit of work from the app's `state.uow_factory` (set at start)."""
    return request.app.state.uow_factory()


async def app_clock(request: Request) -> Any:
    """A dependency: the app's `state.clock` (a frozen one in tests)."""
    return request.app.state.clock

"""Prometheus figures every service serves at `GET /metrics` (`add_metrics(app)`), with
prometheus_client: HTTP requests by route template, messages consumed by queue and outcome,
consumers paused by an outage, the outbox backlog and the relay's publishes, the DB pool in use.

Labels are bounded and carry no tenant data: route templates (`/leads/{lead_id}`, never the raw
path; `unmatched` for a path no route has), queue names, outcomes, methods, status codes.

The counters live in prometheus_client's process-wide registry: the code that counts (the
shared consumer, inbox, relay) runs far from any app. Several HTTP worker processes
(`<SERVICE>_WORKERS` above 1) use prometheus_client's multiprocess mode: `serve` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh directory before the workers start, each process writes
its figures there, and whichever worker answers a scrape adds up all of them.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "forecourt_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "forecourt_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MESSAGES = Counter(
    "forecourt_messages_consumed",
    "Messages settled by a consumer, by queue and outcome: ack, retry (nacked to come back), "
    "dead_lettered, duplicate_skipped (the inbox had the event already)",
    ["queue", "outcome"],
)
PAUSED = Gauge(
    "forecourt_consumer_paused",
    "1 while the queue's consumer waits out an outage of the database or broker",
    ["queue"],
    multiprocess_mode="livemax",
)
OUTBOX_PUBLISHED = Counter(
    "forecourt_outbox_published",
    "Outbox rows the relay published (confirmed by the broker) or failed to publish",
    ["outcome"],
)
DB_POOL_IN_USE = Gauge(
    "forecourt_db_pool_in_use",
    "Connections of the service's pool checked out now (HTTP, consumers, background work)",
    multiprocess_mode="livesum",
)

# --- consumers ------------------------------------------------------------------------------


@dataclass
class Claims:
    """Inbox claims of one handling: how many events the inbox already had."""

    skipped: int = 0


_claims: contextvars.ContextVar[Claims | None] = contextvars.ContextVar("claims", default=None)


def track_claims() -> Claims:
    """Count the duplicates the inbox skips in this task from now on (`inbox.claim`)."""
    claims = Claims()
    _claims.set(claims)
    return claims


def skipped_duplicates(n: int) -> None:
    claims = _claims.get()
    if claims is not None and n > 0:
        claims.skipped += n


def consumed(queue: str, outcome: str, n: int = 1) -> None:
    if n > 0:
        MESSAGES.labels(queue, outcome).inc(n)


# --- outbox relay ---------------------------------------------------------------------------

# A relay in a child process (`shared.relay_process`) adds its publishes to a shared integer;
# the service process adds them to its counter when scraped (with multiprocess mode on, the
# child writes its own figures instead).
_relay_sink: Any = None
_relay_sources: list[tuple[Any, list[int]]] = []
_relay_lock = threading.Lock()


def set_relay_sink(value: Any) -> None:
    global _relay_sink
    _relay_sink = value


def watch_relay(value: Any) -> None:
    with _relay_lock:
        _relay_sources.append((value, [0]))


def relay_published(published: int, failed: int) -> None:
    if published:
        OUTBOX_PUBLISHED.labels("published").inc(published)
        if _relay_sink is not None:
            with _relay_sink.get_lock():
                _relay_sink.value += published
    if failed:
        OUTBOX_PUBLISHED.labels("failed").inc(failed)


def _catch_up_relays() -> None:
    if multiprocess_mode():
        return  # the child counted in the shared directory itself
    with _relay_lock:
        for value, seen in _relay_sources:
            now = int(value.value)
            if now > seen[0]:
                OUTBOX_PUBLISHED.labels("published").inc(now - seen[0])
                seen[0] = now


# --- database pool --------------------------------------------------------------------------


def watch_pool(engine: AsyncEngine) -> None:
    """Keep `forecourt_db_pool_in_use` up to date as connections are checked out and in."""
    sync = engine.sync_engine

    def checkout(*_args: Any) -> None:
        DB_POOL_IN_USE.inc()

    def checkin(*_args: Any) -> None:
        DB_POOL_IN_USE.dec()

    event.listen(sync, "checkout", checkout)
    event.listen(sync, "checkin", checkin)


# --- outbox backlog, read when scraped ------------------------------------------------------

_BACKLOG = text(
    "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) "
    "FROM outbox_message WHERE published_at IS NULL"
)


class OutboxBacklog(Collector):
    """Unpublished outbox rows and the age of the oldest, read from the database at most every
    `every` seconds (scrapes in between get the last reading): the partial index of pending rows
    keeps it cheap while the relay keeps up."""

    def __init__(self, engine: Callable[[], AsyncEngine | None], every: float = 5.0) -> None:
        self._engine = engine
        self._every = every
        self._read_at = -float("inf")
        self.rows: float | None = None
        self.oldest_seconds: float | None = None

    async def refresh(self) -> None:
        engine = self._engine()
        if engine is None or time.monotonic() - self._read_at < self._every:
            return
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(_BACKLOG)).one()
        except Exception:
            self.rows = self.oldest_seconds = None  # the database is down: say nothing
        else:
            self.rows, self.oldest_seconds = float(row[0]), float(row[1])
        self._read_at = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.rows is None or self.oldest_seconds is None:
            return
        yield GaugeMetricFamily(
            "forecourt_outbox_backlog", "Outbox rows not yet published", value=self.rows
        )
        yield GaugeMetricFamily(
            "forecourt_outbox_oldest_pending_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            value=self.oldest_seconds,
        )


# --- HTTP -----------------------------------------------------------------------------------


class HttpMetrics:
    """ASGI middleware: counts each request by its route's template once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of this process (or, in multiprocess mode, of every process of the
    service), then `extra`'s figures."""
    _catch_up_relays()
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    parts = [generate_latest(registry)]
    for collector in extra:
        own = CollectorRegistry(auto_describe=True)
        own.register(collector)
        parts.append(generate_latest(own))
    return b"".join(parts)


def add_metrics(
    app: FastAPI,
    *,
    extra: Iterable[Collector] = (),
    before_scrape: Callable[[Request], Awaitable[None]] | None = None,
    outbox: bool = True,
) -> None:
    """`GET /metrics` (no auth: nothing in it names a tenant) and the HTTP request figures.

    The outbox backlog is read from `app.state.runtime.engine` (`outbox=False` for a service
    without an outbox); `extra` adds a service's own collectors, `before_scrape` refreshes them.
    """
    app.add_middleware(HttpMetrics)
    collectors = list(extra)
    backlog: OutboxBacklog | None = None
    if outbox:
        backlog = OutboxBacklog(
            lambda: getattr(getattr(app.state, "runtime", None), "engine", None)
        )
        collectors.append(backlog)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if backlog is not None:
            await backlog.refresh()
        if before_scrape is not None:
            await before_scrape(request)
        return Response(render(collectors), media_type=CONTENT_TYPE_LATEST)

"""Reading a service's `GET /metrics` in tests: parsed with prometheus_client's own parser, so
a body that is not Prometheus text fails the test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def consumed(samples: Samples, queue_suffix: str, outcome: str) -> float:
    """`forecourt_messages_consumed_total` of the queue ending in `queue_suffix` (tests prefix
    queue names with their namespace)."""
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "forecourt_messages_consumed_total"
        and dict(labels).get("queue", "").endswith(queue_suffix)
        and dict(labels).get("outcome") == outcome
    )


async def until_consumed(
    client: httpx.AsyncClient, queue_suffix: str, outcome: str, at_least: float, within: float = 30
) -> Samples:
    async with asyncio.timeout(within):
        while True:
            samples = await scrape(client)
            if consumed(samples, queue_suffix, outcome) >= at_least:
                return samples
            await asyncio.sleep(0.1)


async def check_service_metrics(
    client: httpx.AsyncClient,
    *,
    raw_path: str,
    template: str,
    queue_suffix: str,
    publish: Callable[[], Awaitable[Any]],
) -> Samples:
    """What every service's /metrics must show: the request by its route's template (the id of
    `raw_path` nowhere), one event consumed (ack), the same event again (duplicate_skipped),
    the outbox backlog and the pool in use."""
    before = await scrape(client)
    status = (await client.get(raw_path)).status_code
    after = await scrape(client)
    counted = ("forecourt_http_requests_total", "GET", template, str(status))
    name, method, route, code = counted
    assert value(after, name, method=method, route=route, status=code) == (
        value(before, name, method=method, route=route, status=code) + 1
    )
    histogram = "forecourt_http_request_duration_seconds_count"
    assert value(after, histogram, method="GET", route=template) >= 1
    assert not any(raw_path in str(labels) for _, labels in after), "a raw path as a label"

    acked = consumed(before, queue_suffix, "ack")
    skipped = consumed(before, queue_suffix, "duplicate_skipped")
    await publish()
    await until_consumed(client, queue_suffix, "ack", acked + 1)
    await publish()  # the same event again: the inbox has it
    samples = await until_consumed(client, queue_suffix, "duplicate_skipped", skipped + 1)
    assert consumed(samples, queue_suffix, "ack") == acked + 1

    assert ("forecourt_outbox_backlog", frozenset()) in samples
    assert ("forecourt_db_pool_in_use", frozenset()) in samples
    return samples


def an_id() -> str:
    return str(uuid.uuid4())

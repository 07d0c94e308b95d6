"""POST /v1/leads under load: throughput, HTTP latency, and POST → `lead.ingested` latency."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from bench.common.stats import summary_ms
from bench.intake.data import Person, is_valid, json_lead
from bench.intake.probe import Probe, Seen, collect
from bench.intake.service import Tenant

INGESTED = "lead.ingested"


@dataclass(frozen=True)
class Sent:
    lead_id: str | None
    status: int
    sent: float
    done: float


def bodies(persons: Iterator[Person], n: int, seed: int) -> list[bytes]:
    """`n` JSON bodies of distinct people (serialised up front: the client should not time its
    own JSON encoding)."""
    rng = random.Random(seed)
    out = []
    for person, _ in zip(persons, range(n), strict=False):
        if not is_valid(person.phone):
            raise ValueError(f"generated an invalid phone number: {person.phone}")
        out.append(json.dumps(json_lead(person, rng)).encode())
    return out


def client(base_url: str, api_key: str, connections: int) -> aiohttp.ClientSession:
    """aiohttp, not httpx: the load generator shares the machine's two cores with the system
    under test, and httpx cost ~6 ms of CPU per request (aiohttp: a fraction of it)."""
    headers = {"X-Api-Key": api_key, "Content-Type": "application/json"}
    return aiohttp.ClientSession(
        base_url=base_url,
        headers=headers,
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def post(http: aiohttp.ClientSession, body: bytes) -> Sent:
    sent = time.monotonic()
    try:
        async with http.post("/v1/leads", data=body) as r:
            status = r.status
            answer = await r.json() if status == 202 else None
    except (aiohttp.ClientError, TimeoutError):
        return Sent(None, 0, sent, time.monotonic())
    done = time.monotonic()
    lead_id = answer.get("lead_id") if answer else None
    return Sent(str(lead_id) if lead_id else None, status, sent, done)


async def closed_loop(
    http: aiohttp.ClientSession,
    payloads: list[bytes],
    concurrency: int,
    advance: Callable[[], None] = lambda: None,
) -> list[Sent]:
    """`concurrency` workers, each posting the next lead as soon as its last one answered."""
    pending = iter(payloads)
    results: list[Sent] = []

    async def worker() -> None:
        for body in pending:
            results.append(await post(http, body))
            advance()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def open_loop(
    http: aiohttp.ClientSession,
    payloads: list[bytes],
    rate: float,
    advance: Callable[[], None] = lambda: None,
    on_send: Callable[[int], None] = lambda _i: None,
) -> list[Sent]:
    """One lead every 1/rate seconds, whether or not earlier ones have answered; `on_send(i)`
    just before the i-th is sent."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for i, body in enumerate(payloads):
        await asyncio.sleep(max(start + i / rate - loop.time(), 0.0))
        on_send(i)
        task = asyncio.create_task(post(http, body))
        task.add_done_callback(lambda _: advance())
        tasks.append(task)
    return list(await asyncio.gather(*tasks))


@dataclass(frozen=True)
class JsonResult:
    mode: str
    offered_per_s: float | None  # None: closed loop, as fast as answers come
    requests: int
    accepted: int
    statuses: dict[str, int]
    seconds: float
    leads_per_s: float
    http_ms: dict[str, float | None]
    ingested_ms: dict[str, float | None]
    events_missing: int
    last_event_after_s: float | None


async def events_for(probe: Probe, tenant: Tenant, sent: list[Sent], wait_s: float = 300.0) -> Seen:
    wanted = [s.lead_id for s in sent if s.lead_id]
    seen, _ = await collect(
        probe,
        lambda seen: all((INGESTED, lead_id) in seen.first for lead_id in wanted),
        tenant=tenant.name,
        wait_s=wait_s,
    )
    return seen


def summarise(mode: str, sent: list[Sent], seen: Seen, offered: float | None = None) -> JsonResult:
    start = min(s.sent for s in sent)
    end = max(s.done for s in sent)
    accepted = [s for s in sent if s.status == 202]
    latencies = [
        seen.first[(INGESTED, s.lead_id)] - s.sent
        for s in accepted
        if s.lead_id is not None and (INGESTED, s.lead_id) in seen.first
    ]
    return JsonResult(
        mode=mode,
        offered_per_s=offered,
        requests=len(sent),
        accepted=len(accepted),
        statuses={str(k): v for k, v in sorted(Counter(s.status for s in sent).items())},
        seconds=round(end - start, 3),
        leads_per_s=round(len(accepted) / (end - start), 1),
        http_ms=summary_ms([s.done - s.sent for s in sent]),
        ingested_ms=summary_ms(latencies),
        events_missing=len(accepted) - len(latencies),
        last_event_after_s=round(seen.last - start, 3) if seen.last else None,
    )


async def warm_up(base_url: str, tenant: Tenant, payloads: list[bytes]) -> None:
    async with client(base_url, tenant.api_key, 8) as http:
        await closed_loop(http, payloads, 8)


async def saturate(
    base_url: str,
    tenant: Tenant,
    probe: Probe,
    payloads: list[bytes],
    concurrency: int,
    advance: Callable[[], None],
) -> JsonResult:
    async with client(base_url, tenant.api_key, concurrency) as http:
        sent = await closed_loop(http, payloads, concurrency, advance)
    return summarise(
        f"closed loop, {concurrency} in flight", sent, await events_for(probe, tenant, sent)
    )


async def steady(
    base_url: str,
    tenant: Tenant,
    probe: Probe,
    payloads: list[bytes],
    rate: float,
    advance: Callable[[], None],
) -> JsonResult:
    async with client(base_url, tenant.api_key, 64) as http:
        sent = await open_loop(http, payloads, rate, advance)
    seen = await events_for(probe, tenant, sent)
    return summarise(f"open loop, {rate:g}/s offered", sent, seen, offered=rate)


def as_dict(result: JsonResult) -> dict[str, Any]:
    return dict(result.__dict__)


_RELAY_LAG = (
    "SELECT id, extract(epoch FROM published_at - created_at) AS lag FROM outbox_message "
    "WHERE routing_key = 'lead.ingested.v1' AND id > $1 AND published_at IS NOT NULL"
)


async def relay_lag(dsn: str, after_id: int) -> tuple[dict[str, float | None], int]:
    """From intake's own outbox: commit of each `lead.ingested` to its confirm by the broker,
    for rows after `after_id`; and the last row's id. Unlike POST -> probe, it does not count
    the time the probe process waits for a core."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(_RELAY_LAG, after_id)
    finally:
        await conn.close()
    last = max((r["id"] for r in rows), default=after_id)
    return summary_ms([float(r["lag"]) for r in rows]), last

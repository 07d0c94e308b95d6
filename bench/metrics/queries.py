"""KPI queries over HTTP, each timed; and the floor: one bare scan of the same period."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.common.stats import summary_ms

ENDPOINTS = (
    "funnel",
    "speed-to-lead",
    "persistence",
    "lost-reasons",
    "recovery",
    "sources",
    "consultants",
    "agents",
)


def windows() -> dict[str, dict[str, str]]:
    """Month to date, and the whole year of history (the widest a dashboard asks): for the
    whole group; for one dealership; in a zone whose days are not UTC days (the rollups answer
    whole UTC days, the facts the hours at each end)."""
    today = datetime.now(UTC).date()
    year = {"period": "range", "from": str(today - timedelta(days=364)), "to": str(today)}
    return {
        "mtd": {"period": "mtd"},
        "year": year,
        "year, one dealership": year | {"dealership": "bench-d1"},
        "year, America/Toronto": year | {"tz": "America/Toronto"},
    }


async def measure(
    base_url: str, headers: dict[str, str], repeats: int, on_done: Any = lambda: None
) -> dict[str, Any]:
    """Every endpoint over every window, `repeats` times, one request at a time (a warm-up
    request first, not counted); p50 / p95 / p99 / max per endpoint and window."""
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300) as client:
        for window, params in windows().items():
            for endpoint in ENDPOINTS:
                path = f"/v1/kpis/{endpoint}"
                first = await client.get(path, params=params)
                if first.status_code != 200:
                    out[f"{endpoint} {window}"] = {"status": first.status_code}
                    continue
                times = []
                for _ in range(repeats):
                    started = time.monotonic()
                    r = await client.get(path, params=params)
                    times.append(time.monotonic() - started)
                    r.raise_for_status()
                    on_done()
                out[f"{endpoint} {window}"] = summary_ms(times)
    return out


async def floor(conn: asyncpg.Connection, tenant: str, repeats: int) -> dict[str, Any]:
    """The ceiling's counterpart for queries: a bare count of the year's leads by dealership
    (the same rows a funnel reads), asyncpg straight to PostgreSQL."""
    since = datetime.now(UTC) - timedelta(days=365)
    sql = (
        "SELECT dealership_id, count(*), count(qualified_at), count(won_at) FROM lead_fact "
        "WHERE tenant_id = $1 AND received_at >= $2 GROUP BY dealership_id"
    )
    await conn.fetch(sql, tenant, since)
    times = []
    for _ in range(repeats):
        started = time.monotonic()
        await conn.fetch(sql, tenant, since)
        times.append(time.monotonic() - started)
    return {"year_scan_ms": summary_ms(times)}

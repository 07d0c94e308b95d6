"""metrics' own Prometheus figures: events consumed, handler latency, dead letters, and funnel
gauges (month to date, all tenants together) refreshed from the facts when scraped. Served at
/metrics after the figures every service has (`shared.observability`).

One registry per app, not the process-wide default: tests start several apps in one process.
With `METRICS_WORKERS` above 1 each worker counts these on its own (a scrape reaches one of
them; the shared figures add up every worker): run one worker per pod and let Prometheus sum
the pods.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metrics.adapters import kpis as sql
from metrics.domain.kpis import resolve_window


class Observer:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "metrics_events_consumed",
            "Events consumed, by routing key; outcome new or duplicate (already projected)",
            ["routing_key", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "metrics_handler_seconds",
            "Time to project one event (inbox, event log, facts, commit)",
            ["routing_key"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.dead_lettered = Counter(
            "metrics_events_dead_lettered",
            "Events this process dead-lettered as poison (unreadable, invalid)",
            ["routing_key"],
            registry=r,
        )
        self.failures = Counter(
            "metrics_handler_failures",
            "Handler errors taken as transient (the event is retried)",
            ["routing_key"],
            registry=r,
        )
        self.funnel = Gauge(
            "metrics_funnel_month_to_date",
            # No tenant label: /metrics needs no token, so it names no tenant (the KPI API,
            # with a staff token, has the figures per dealer group).
            "Leads, prospects and sales this month (UTC), all tenants together",
            ["stage"],
            registry=r,
        )
        self._refreshed = 0.0

    async def refresh(
        self, sessions: async_sessionmaker[AsyncSession], now: datetime, every: float
    ) -> None:
        if time.monotonic() - self._refreshed < every:
            return
        today = now.astimezone(ZoneInfo("UTC")).date()
        window = resolve_window("mtd", today=today, timezone="UTC")
        async with sessions() as session:
            rows = await sql.gauges(session, window)
        for stage in ("leads", "prospects", "sales"):
            self.funnel.labels(stage).set(sum(row[stage] for row in rows))
        self._refreshed = time.monotonic()

    def render(self) -> bytes:
        return generate_latest(self.registry)

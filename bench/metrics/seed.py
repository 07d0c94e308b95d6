"""Ten million events' worth of history written straight into metrics' tables (set-up, not
what is measured): the event log and the facts projected from it, as the projector leaves them.

A lead's life here is five events on average (ingested, first attempt, qualified or lost,
assigned, won...), so `events` events are `events // 5` leads over the last 365 days, spread
over the dealerships, sources, agents and consultants. Rows are made server side
(generate_series) in chunks: nothing crosses the wire.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from metrics.adapters.rollups import ROLLUP_TABLES, rebuild_all
from shared.db import create_engine

EVENTS_PER_LEAD = 5

# i: the lead's number; r: a hash of it, for spreading outcomes without a random source.
_LEADS = """
WITH l AS (
INSERT INTO lead_fact (
    tenant_id, lead_id, dealership_id, received_at, ingest_key, source_id, source_kind,
    source_name, campaign, cost_per_lead, currency, first_attempt_at, first_attempt_key,
    first_attempt_agent, first_attempt_channel, attempts, sla_due_at, qualified_at,
    qualified_key, qualified_agent, qualified_outcome, lead_lost_at, lead_lost_key,
    lead_lost_code, lead_lost_category, lead_lost_agent, first_assigned_at, first_assigned_key,
    consultant_at, consultant_key, consultant_id, won_at, won_key, won_consultant, won_amount,
    won_currency, won_reactivated
)
SELECT $1, id, 'bench-d' || (i % $5), at, 'k' || i, 'bench-s' || (i % 12), 'marketplace',
       'Source ' || (i % 12), 'campaign-' || (i % 7), 15.00, 'CAD',
       at + (r % 120) * interval '1 minute', 'a' || i, 'agent-' || (i % 50), 'call', 1 + r % 6,
       at + interval '1 hour',
       CASE WHEN r % 10 < 4 THEN at + interval '1 day' END,
       CASE WHEN r % 10 < 4 THEN 'q' || i END,
       CASE WHEN r % 10 < 4 THEN 'agent-' || (i % 50) END,
       CASE WHEN r % 10 < 4 THEN 'appointment.test_drive' END,
       CASE WHEN r % 10 >= 4 THEN at + interval '2 days' END,
       CASE WHEN r % 10 >= 4 THEN 'l' || i END,
       CASE WHEN r % 10 >= 4 THEN (ARRAY['not_reached.max_attempts', 'no_interest.other_car',
            'bought_elsewhere.other_brand', 'prospect.price'])[1 + r % 4] END,
       CASE WHEN r % 10 >= 4 THEN (ARRAY['not_reached', 'no_interest', 'bought_elsewhere',
            'prospect'])[1 + r % 4] END,
       CASE WHEN r % 10 >= 4 THEN 'agent-' || (i % 50) END,
       CASE WHEN r % 10 < 4 THEN at + interval '1 day 1 minute' END,
       CASE WHEN r % 10 < 4 THEN 'f' || i END,
       CASE WHEN r % 10 < 4 THEN at + interval '1 day 1 minute' END,
       CASE WHEN r % 10 < 4 THEN 'c' || i END,
       CASE WHEN r % 10 < 4 THEN 'consultant-' || (i % 200) END,
       CASE WHEN r % 10 = 0 THEN at + interval '9 days' END,
       CASE WHEN r % 10 = 0 THEN 'w' || i END,
       CASE WHEN r % 10 = 0 THEN 'consultant-' || (i % 200) END,
       CASE WHEN r % 10 = 0 THEN 30000.00 END,
       CASE WHEN r % 10 = 0 THEN 'CAD' END,
       CASE WHEN r % 10 = 0 THEN false END
FROM (
    SELECT i, gen_random_uuid() AS id, abs(hashint4(i::int)) AS r,
           $4::timestamptz - (i % 365) * interval '1 day' - (i % 86400) * interval '1 second'
               AS at
    FROM generate_series($2::bigint, $2::bigint + $3 - 1) AS i
) AS g
RETURNING tenant_id, lead_id, dealership_id, received_at, source_id
)
{events}
"""

_LOSSES = """
INSERT INTO loss_fact (event_id, tenant_id, lead_id, dealership_id, origin, reason_code,
                       category, attempts, agent_id, lost_at)
SELECT gen_random_uuid(), tenant_id, lead_id, dealership_id, 'lead', lead_lost_code,
       lead_lost_category, attempts, lead_lost_agent, lead_lost_at
FROM lead_fact WHERE tenant_id = $1 AND lead_lost_at IS NOT NULL
"""

# The event log: EVENTS_PER_LEAD rows a lead, a compact envelope each (~300 bytes of JSON), in
# the same statement as the leads (from the rows it returns).
_EVENTS = """
INSERT INTO event_log (event_id, tenant_id, event_type, event_version, lead_id, dealership_id,
                       occurred_at, body)
SELECT gen_random_uuid(), tenant_id, t.event_type, 1, lead_id, dealership_id,
       received_at + t.n * interval '1 hour',
       jsonb_build_object('event_type', t.event_type, 'tenant_id', tenant_id,
                          'lead_id', lead_id, 'dealership_id', dealership_id,
                          'occurred_at', received_at + t.n * interval '1 hour',
                          'payload', jsonb_build_object('sequence', t.n + 1,
                                                        'source_id', source_id))
FROM l
CROSS JOIN (VALUES (0, 'lead.ingested'), (1, 'lead.contact_attempted'), (2, 'lead.qualified'),
                   (3, 'prospect.assigned'), (4, 'prospect.contacted')) AS t(n, event_type)
"""


async def build_rollups(database_url: str) -> float:
    """The rollups summed from the facts, as the rebuild command does after replaying the log
    (`metrics.adapters.rollups.rebuild_all`); the seconds it took."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    started = time.monotonic()
    try:
        async with engine.begin() as conn:
            await rebuild_all(conn)
    finally:
        await engine.dispose()
    return time.monotonic() - started


async def seed(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    events: int,
    dealerships: int,
    database_url: str,
    chunk: int = 200_000,
    on_events: Callable[[int], None] = lambda n: None,
) -> dict[str, float | int]:
    """`events` events' worth: the facts first, then the event log, then the rollups summed
    from the facts; seconds each took."""
    leads = max(events // EVENTS_PER_LEAD, 1)
    now = datetime.now(UTC)
    started = time.monotonic()
    statement = _LEADS.format(events=_EVENTS)
    for first in range(0, leads, chunk):
        n = min(chunk, leads - first)
        await conn.execute(statement, tenant, first, n, now, dealerships)
        on_events(n * EVENTS_PER_LEAD)
    await conn.execute(_LOSSES, tenant)
    logged = time.monotonic()
    await conn.execute("VACUUM ANALYZE lead_fact")
    await conn.execute("VACUUM ANALYZE loss_fact")
    await conn.execute("VACUUM ANALYZE event_log")
    vacuumed = time.monotonic()
    rollup_s = await build_rollups(database_url)
    for table in ROLLUP_TABLES:
        await conn.execute(f"VACUUM ANALYZE {table}")
    return {
        "leads": leads,
        "events": leads * EVENTS_PER_LEAD,
        "insert_s": round(logged - started, 2),
        "vacuum_s": round(vacuumed - logged, 2),
        "rollup_s": round(rollup_s, 2),
        "rollup_rows": int(
            await conn.fetchval(
                "SELECT " + " + ".join(f"(SELECT count(*) FROM {t})" for t in ROLLUP_TABLES)
            )
        ),
        "database_bytes": int(await conn.fetchval("SELECT pg_database_size(current_database())")),
    }

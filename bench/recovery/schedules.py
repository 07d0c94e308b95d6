"""Scheduled follow-ups written straight into recovery's `recovery` table (set-up, not the
thing measured), the table's size, and a bare-SQL ceiling of firing them."""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

# One chunk per statement: server-side rows (generate_series), nothing crosses the wire. A row
# is what a `lead.lost` (not reached, call first) leaves: step 1 scheduled at starts_at + 3 days.
# Rows below `due` fell due a minute ago; the others over the next 60 days.
_INSERT = """
INSERT INTO {table} (
    recovery_id, tenant_id, dealership_id, lead_id, origin, reason_code, lost_at, starts_at,
    cadence, state, step, due_at, channel, fire_at, person, email_key, phone_key
)
SELECT gen_random_uuid(), $1 || (i % $4), 'bench-d' || (i % 40), gen_random_uuid(), 'lead',
       'not_reached.max_attempts', s, s, '{{3,7,14,30,60,90}}', 'scheduled', 1,
       s + interval '3 days', 'call', s + interval '3 days',
       jsonb_build_object('first_name', 'Bench', 'email', 'r' || i || '@example.com',
                          'phone', '+1416' || lpad((i % 10000000)::text, 7, '0')),
       md5('e' || i), md5('p' || i)
FROM (
    SELECT i, CASE WHEN i < $3 THEN $5::timestamptz - interval '3 days 1 minute'
                   ELSE $5::timestamptz + (i % 60) * interval '1 day' + interval '1 hour' END AS s
    FROM generate_series($2::bigint, $2::bigint + $6 - 1) AS i
) AS g
"""


async def insert(
    conn: asyncpg.Connection,
    *,
    total: int,
    due: int,
    tenant_prefix: str,
    tenants: int,
    now: float,
    chunk: int = 100_000,
    table: str = "recovery",
    on_rows: Callable[[int], None] = lambda n: None,
) -> float:
    """`total` scheduled runs, the first `due` of them due; seconds it took."""
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(now, UTC)
    started = time.monotonic()
    for first in range(0, total, chunk):
        n = min(chunk, total - first)
        await conn.execute(_INSERT.format(table=table), tenant_prefix, first, due, tenants, at, n)
        on_rows(n)
    await conn.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


async def sizes(conn: asyncpg.Connection, table: str = "recovery") -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT pg_total_relation_size($1::regclass) AS total, pg_relation_size($1::regclass)"
        " AS heap, pg_indexes_size($1::regclass) AS indexes, (SELECT count(*) FROM "
        f"{table}) AS rows_",
        table,
    )
    assert row is not None
    return {
        "total": row["total"],
        "heap": row["heap"],
        "indexes": row["indexes"],
        "rows": row["rows_"],
    }


async def remaining_due(conn: asyncpg.Connection, cutoff: float) -> int:
    """Runs still to fire (through the scanner's own partial index on fire_at)."""
    from datetime import UTC, datetime

    value = await conn.fetchval(
        "SELECT count(*) FROM recovery WHERE fire_at IS NOT NULL AND fire_at <= $1",
        datetime.fromtimestamp(cutoff, UTC),
    )
    return int(value)


async def outbox_pending(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM outbox_message WHERE published_at IS NULL")
    )


# --- the ceiling --------------------------------------------------------------------------------

_RAW_FIRE = """
WITH claimed AS (
    SELECT recovery_id FROM bench_raw_recovery
    WHERE fire_at IS NOT NULL AND fire_at <= now()
    ORDER BY fire_at LIMIT $1 FOR UPDATE SKIP LOCKED
), fired AS (
    UPDATE bench_raw_recovery AS r
    SET state = 'due', steps_opened = 1, fire_at = r.due_at + interval '4 days',
        updated_at = now(), sequence = r.sequence + 1
    FROM claimed WHERE r.recovery_id = claimed.recovery_id
    RETURNING r.recovery_id
)
INSERT INTO bench_raw_outbox (event_id, routing_key, body)
SELECT gen_random_uuid(), 'recovery.due.v1', convert_to(repeat('x', 900), 'UTF8') FROM fired
"""


async def raw_ceiling(
    conn: asyncpg.Connection, batch: int, on_rows: Callable[[int], None] = lambda n: None
) -> dict[str, float | int]:
    """The same claim (FOR UPDATE SKIP LOCKED, ordered by fire_at, `batch` rows a transaction)
    and one ~1 KiB outbox row per run fired, in bare SQL on a copy of the table: what
    PostgreSQL allows here now, without the service's Python."""
    started = time.monotonic()
    await conn.execute(
        "CREATE TABLE bench_raw_recovery (LIKE recovery INCLUDING ALL);"
        "INSERT INTO bench_raw_recovery SELECT * FROM recovery;"
        "CREATE TABLE bench_raw_outbox (LIKE outbox_message INCLUDING ALL);"
    )
    await conn.execute("VACUUM ANALYZE bench_raw_recovery")
    copied = time.monotonic()
    fired = 0
    try:
        while True:
            status = await conn.execute(_RAW_FIRE, batch)
            n = int(status.rsplit(" ", 1)[1])
            if n == 0:
                break
            fired += n
            on_rows(n)
        seconds = time.monotonic() - copied
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_raw_recovery, bench_raw_outbox")
    return {
        "fired": fired,
        "batch": batch,
        "copy_s": round(copied - started, 2),
        "seconds": round(seconds, 2),
        "fired_per_s": round(fired / seconds, 1) if seconds > 0 else 0.0,
    }

"""The machine's ceilings without intake: plain aio-pika and plain asyncpg."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg

from bench.intake.data import people, raw_message
from bench.intake.probe import Probe, ProbeSpec, collect
from shared.messaging.publish import PERSISTENT, Properties, publish_confirmed


@dataclass(frozen=True)
class BrokerCeiling:
    messages: int
    body_bytes: int
    confirmed_per_s: float  # first publish to last publisher confirm
    consumed_per_s: float  # first publish to last message consumed
    complete: bool


async def _publish_all(
    channel: aio_pika.abc.AbstractChannel, queue: str, n: int, batch: int
) -> None:
    # The outbox relay's own publish call, so the ratios compare intake with the best this
    # client does, not with a slower path.
    async def publish(i: int) -> None:
        await publish_confirmed(
            channel,
            raw_message(i),
            exchange="",
            routing_key=queue,
            properties=Properties(
                delivery_mode=PERSISTENT, message_id=str(i), content_type="application/json"
            ),
        )

    for start in range(0, n, batch):
        await asyncio.gather(*(publish(i) for i in range(start, min(start + batch, n))))


async def broker_ceiling(amqp_url: str, queue: str, n: int, batch: int = 500) -> BrokerCeiling:
    """Publish `n` persistent ~1 KiB messages with confirms to a durable quorum queue, `batch`
    in flight at a time, while a consumer in another process takes them (acks batched)."""
    probe = Probe(ProbeSpec(amqp_url, queue))
    await probe.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        started = time.monotonic()
        await _publish_all(channel, queue, n, batch)
        confirmed = time.monotonic()
        seen, complete = await collect(probe, lambda s: s.count("raw") >= n, wait_s=120)
        return BrokerCeiling(
            messages=seen.count("raw"),
            body_bytes=len(raw_message(0)),
            confirmed_per_s=n / (confirmed - started),
            consumed_per_s=seen.count("raw") / (seen.last - started),
            complete=complete,
        )
    finally:
        await connection.close()
        await probe.stop()


# --- PostgreSQL -----------------------------------------------------------------------------

_LEAD_TABLE = """
CREATE TABLE bench_lead (
    id uuid PRIMARY KEY, tenant_id text NOT NULL, dealership_id uuid NOT NULL,
    source_id uuid NOT NULL, first_name text, last_name text, email text, phone text,
    other_phones text[] NOT NULL DEFAULT '{}', vehicle jsonb,
    trade_ins jsonb NOT NULL DEFAULT '[]', comments text, consent jsonb NOT NULL DEFAULT '{}',
    campaign text, channel text, lead_type text, provider text, source_lead_id text,
    extensions jsonb NOT NULL DEFAULT '{}', requested_at timestamptz,
    received_at timestamptz NOT NULL, last_enquiry_at timestamptz NOT NULL,
    enquiry_count integer NOT NULL DEFAULT 1, status text NOT NULL DEFAULT 'open',
    sequence integer NOT NULL DEFAULT 1
);
CREATE INDEX ON bench_lead (tenant_id, email);
CREATE INDEX ON bench_lead (tenant_id, phone);
"""
_COLUMNS = (
    "id",
    "tenant_id",
    "dealership_id",
    "source_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "other_phones",
    "vehicle",
    "trade_ins",
    "comments",
    "consent",
    "campaign",
    "channel",
    "lead_type",
    "provider",
    "source_lead_id",
    "extensions",
    "requested_at",
    "received_at",
    "last_enquiry_at",
    "enquiry_count",
    "status",
    "sequence",
)


@dataclass(frozen=True)
class PgCeiling:
    columns: int
    copy_rows: int
    copy_rows_per_s: float
    executemany_rows: int
    executemany_rows_per_s: float


def _lead_rows(n: int, start: int) -> list[tuple[Any, ...]]:
    tenant, dealership, source = "bench", uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    vehicle = json.dumps({"make": "Toyota", "model": "RAV4", "year": 2022, "condition": "used"})
    consent = json.dumps({"email": True, "sms": False, "phone": None, "marketing": None})
    rows: list[tuple[Any, ...]] = []
    for person, _ in zip(people("pg", start), range(n), strict=False):
        rows.append(
            (
                uuid.uuid4(),
                tenant,
                dealership,
                source,
                person.first_name,
                person.last_name,
                person.email,
                person.phone,
                [],
                vehicle,
                "[]",
                "Is it still available?",
                consent,
                "bench",
                None,
                None,
                None,
                None,
                "{}",
                None,
                now,
                now,
                1,
                "open",
                1,
            )
        )
    return rows


async def _copy(conn: asyncpg.Connection, rows: list[tuple[Any, ...]], batch: int) -> float:
    started = time.monotonic()
    for i in range(0, len(rows), batch):
        async with conn.transaction():
            await conn.copy_records_to_table(
                "bench_lead", records=rows[i : i + batch], columns=_COLUMNS
            )
    return len(rows) / (time.monotonic() - started)


async def _executemany(conn: asyncpg.Connection, rows: list[tuple[Any, ...]], batch: int) -> float:
    placeholders = ", ".join(f"${i + 1}" for i in range(len(_COLUMNS)))
    sql = f"INSERT INTO bench_lead ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
    started = time.monotonic()
    for i in range(0, len(rows), batch):
        async with conn.transaction():
            await conn.executemany(sql, rows[i : i + batch])
    return len(rows) / (time.monotonic() - started)


def _jsonb_out(text: str) -> bytes:
    return b"\x01" + text.encode()  # jsonb's binary format: a version byte, then the text


def _jsonb_in(data: bytes) -> str:
    return data[1:].decode()


async def _init(conn: asyncpg.Connection) -> None:
    """JSON values go as already-encoded text; binary format, as COPY needs."""
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_out, decoder=_jsonb_in, schema="pg_catalog", format="binary"
    )


async def pg_ceiling(
    dsn: str, copy_rows: int, executemany_rows: int, batch: int = 500
) -> PgCeiling:
    """Lead-like rows (25 columns, the lead table's indexes) in transactions of `batch` rows:
    COPY (copy_records_to_table) and INSERT ... executemany."""
    conn = await asyncpg.connect(dsn)
    try:
        await _init(conn)
        await conn.execute(_LEAD_TABLE)
        copy_rate = await _copy(conn, _lead_rows(copy_rows, 0), batch)
        many_rate = await _executemany(conn, _lead_rows(executemany_rows, copy_rows * 2), batch)
        return PgCeiling(len(_COLUMNS), copy_rows, copy_rate, executemany_rows, many_rate)
    finally:
        await conn.close()

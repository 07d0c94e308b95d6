"""What the harness reads in the services' own databases (directly, not through the proxies:
it is a test tool, and reading is not part of the system under test).

Every service has the shared outbox, so its backlog is read the same way for all. A service
whose records the accounting checks has a `Reader` here; a new service joins the run by being
in the catalogue, and its checks by a `Reader` in `READERS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import asyncpg

from forecourt_chaos.domain.accounting import Event, Fact, Lead, Observed, Submission, Task

OUTBOX_BACKLOG = "SELECT count(*) FROM outbox_message WHERE published_at IS NULL"
LEAD_EVENTS = ("lead.ingested.v1", "lead.duplicate.v1")


def event_type(routing_key: str) -> str:
    """`lead.ingested.v1` -> `lead.ingested`."""
    head, _, version = routing_key.rpartition(".")
    return head if version.startswith("v") and version[1:].isdigit() else routing_key


def bare_key(stored: str) -> str:
    """intake keeps `key:<Idempotency-Key or message id>` or `lead:<source_lead_id>`."""
    kind, sep, rest = stored.partition(":")
    return rest if sep and kind in ("key", "lead") else stored


async def outbox_backlog(conn: asyncpg.Connection) -> int:
    try:
        return int(await conn.fetchval(OUTBOX_BACKLOG))
    except asyncpg.UndefinedTableError:  # not migrated yet
        return 0


async def relay_lags(conn: asyncpg.Connection) -> list[float]:
    """Seconds from commit to broker confirm of every published outbox row."""
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM published_at - created_at)::float8 FROM outbox_message"
            " WHERE published_at IS NOT NULL"
        )
    except asyncpg.UndefinedTableError:
        return []
    return [float(r[0]) for r in rows]


class Reader(Protocol):
    async def observe(self, conn: asyncpg.Connection, into: Observed) -> None: ...

    async def backlog(self, conn: asyncpg.Connection) -> Mapping[str, int]:
        """Work still to do inside the service (beyond its outbox), by kind."""
        ...

    async def has_lead(self, conn: asyncpg.Connection, lead_id: str) -> bool | None:
        """Whether the lead got here (a recovery probe); None: this service cannot say."""
        ...


class IntakeReader:
    async def observe(self, conn: asyncpg.Connection, into: Observed) -> None:
        rows = await conn.fetch(
            "SELECT idempotency_key, tenant_id, outcome, lead_id::text, promoted_to::text"
            " FROM submission WHERE idempotency_key IS NOT NULL"
        )
        into.submissions = [Submission(bare_key(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
        rows = await conn.fetch("SELECT id::text, tenant_id, lower(email) FROM lead")
        into.leads = [Lead(r[0], r[1], r[2] or "") for r in rows]
        into.outbox = await outbox_events(conn, LEAD_EVENTS)

    async def backlog(self, conn: asyncpg.Connection) -> Mapping[str, int]:
        raw = await conn.fetchval("SELECT count(*) FROM raw_payload WHERE status = 'pending'")
        jobs = await conn.fetchval(
            "SELECT count(*) FROM bulk_job WHERE status NOT IN ('done', 'failed')"
        )
        return {"raw payloads pending": int(raw), "bulk jobs open": int(jobs)}

    async def has_lead(self, conn: asyncpg.Connection, lead_id: str) -> bool | None:
        return None  # intake answered with the lead id: it has it


async def outbox_events(conn: asyncpg.Connection, routing_keys: tuple[str, ...]) -> list[Event]:
    """A service's outbox rows of these events, with their lead and whether they went out
    (and a lead.duplicate's enquiry and stage)."""
    rows = await conn.fetch(
        "SELECT event_id::text, routing_key, doc ->> 'lead_id', published_at IS NOT NULL,"
        " (doc -> 'payload' ->> 'received_at')::timestamptz,"
        " doc -> 'payload' ->> 'enquiry_id', doc -> 'payload' ->> 'stage'"
        " FROM (SELECT event_id, routing_key, published_at,"
        "       convert_from(body, 'UTF8')::jsonb AS doc FROM outbox_message"
        "       WHERE routing_key = ANY($1::text[])) AS o",
        list(routing_keys),
    )
    return [Event(r[0], event_type(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]


class CrmQueueReader:
    async def observe(self, conn: asyncpg.Connection, into: Observed) -> None:
        rows = await conn.fetch(
            "SELECT lead_id::text, tenant_id, ingested, enquiries, state, outcome, closed_at"
            " FROM task"
        )
        into.tasks = [Task(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
        rows = await conn.fetch(
            "SELECT event_id::text, received_at FROM inbox_message WHERE consumer = 'crm-queue'"
        )
        into.consumed = {r[0]: r[1] for r in rows}
        into.downstream.crm_events = await outbox_events(
            conn, ("lead.qualified.v1", "lead.lost.v1")
        )

    async def backlog(self, conn: asyncpg.Connection) -> Mapping[str, int]:
        return {}

    async def has_lead(self, conn: asyncpg.Connection, lead_id: str) -> bool | None:
        return bool(
            await conn.fetchval("SELECT ingested FROM task WHERE lead_id = $1::uuid", lead_id)
        )


class AssignmentReader:
    """A prospect per qualified lead (a row per lead id, one `prospect.assigned` at most), and
    each enquiry of an open prospect's person on it (an activity of kind enquiry)."""

    async def observe(self, conn: asyncpg.Connection, into: Observed) -> None:
        rows = await conn.fetch("SELECT lead_id::text FROM prospect")
        into.downstream.prospects = [r[0] for r in rows]
        into.downstream.assigned = await outbox_events(conn, ("prospect.assigned.v1",))
        rows = await conn.fetch(
            "SELECT lead_id::text, activity_id::text FROM activity WHERE kind = 'enquiry'"
        )
        into.downstream.enquiries = [(r[0], r[1]) for r in rows]

    async def backlog(self, conn: asyncpg.Connection) -> Mapping[str, int]:
        return {}

    async def has_lead(self, conn: asyncpg.Connection, lead_id: str) -> bool | None:
        return None  # a probe lead is never qualified


class RecoveryReader:
    """A recovery run per loss of a lead (prospects' losses are not driven by the harness)."""

    async def observe(self, conn: asyncpg.Connection, into: Observed) -> None:
        rows = await conn.fetch("SELECT lead_id::text FROM recovery WHERE origin = 'lead'")
        into.downstream.recoveries = [r[0] for r in rows]

    async def backlog(self, conn: asyncpg.Connection) -> Mapping[str, int]:
        return {}

    async def has_lead(self, conn: asyncpg.Connection, lead_id: str) -> bool | None:
        return None  # a probe lead is never lost


class MetricsReader:
    """Every lead counted once: its fact row, its merges, its losses."""

    async def observe(self, conn: asyncpg.Connection, into: Observed) -> None:
        rows = await conn.fetch(
            "SELECT lead_id::text, received_at IS NOT NULL, qualified_at IS NOT NULL,"
            " lead_lost_at IS NOT NULL FROM lead_fact"
        )
        into.downstream.facts = [Fact(r[0], r[1], r[2], r[3]) for r in rows]
        rows = await conn.fetch("SELECT lead_id::text FROM loss_fact WHERE origin = 'lead'")
        into.downstream.losses = [r[0] for r in rows]
        rows = await conn.fetch("SELECT lead_id::text FROM intake_fact WHERE kind = 'duplicate'")
        into.downstream.merges = [r[0] for r in rows]

    async def backlog(self, conn: asyncpg.Connection) -> Mapping[str, int]:
        return {}

    async def has_lead(self, conn: asyncpg.Connection, lead_id: str) -> bool | None:
        return bool(
            await conn.fetchval(
                "SELECT received_at IS NOT NULL FROM lead_fact WHERE lead_id = $1::uuid", lead_id
            )
        )


READERS: dict[str, Reader] = {
    "intake": IntakeReader(),
    "crm-queue": CrmQueueReader(),
    "assignment": AssignmentReader(),
    "recovery": RecoveryReader(),
    "metrics": MetricsReader(),
}


async def bulk_jobs(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) FROM bulk_job GROUP BY 1")
    return {r[0]: int(r[1]) for r in rows}


async def raw_payloads(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) FROM raw_payload GROUP BY 1")
    return {r[0]: int(r[1]) for r in rows}

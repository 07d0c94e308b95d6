"""The roster written straight into assignment's tables (set-up), `lead.qualified` events, and
what the bench reads back: prospects assigned, and each consultant's load."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg

from bench.crm_queue.events import Event
from shared.contracts import LeadQualifiedV1, PersonV1, QualifyingOutcome, new_envelope


def dealership(index: int) -> str:
    return f"bench-d{index:02d}"


async def roster(
    conn: asyncpg.Connection, tenant: str, dealerships: int, consultants: int, cap: int
) -> None:
    """`consultants` spread evenly over the dealerships, clocked in (present whatever the
    hour), no skills asked, under `cap` open prospects each; the default routing (round robin
    over the whole dealership)."""
    rows = [
        (tenant, f"bench-c{i:04d}", dealership(i % dealerships), f"Consultant {i}", cap, True)
        for i in range(consultants)
    ]
    await conn.copy_records_to_table(
        "consultant",
        records=rows,
        columns=["tenant_id", "consultant_id", "dealership_id", "name", "cap", "clocked"],
    )


def lead_qualified(index: int, run: str, tenant: str, dealerships: int) -> Event:
    """The `index`-th qualification: a test-drive appointment, a person, round the dealerships."""
    dealer = dealership(index % dealerships)
    payload = LeadQualifiedV1(
        sequence=2,
        outcome=QualifyingOutcome.APPOINTMENT_TEST_DRIVE,
        agent_id="bench-agent",
        attempts=1,
        qualified_at=datetime.now(UTC),
        person=PersonV1(
            first_name="Bench",
            last_name=f"Person{index}",
            email=f"q.{run}.{index}@example.com",
            phone=f"+1{416_000_0000 + index % 10_000_000}",
        ),
    )
    envelope = new_envelope(payload, tenant_id=tenant, dealership_id=dealer, lead_id=uuid4())
    return Event(
        lead_id=str(envelope.lead_id),
        dealership_id=dealer,
        message_id=str(envelope.event_id),
        routing_key=envelope.routing_key,
        body=envelope.to_json_bytes(),
    )


async def counts(conn: asyncpg.Connection, tenant: str) -> tuple[int, int]:
    """(prospects, of them with a consultant)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, count(consultant_id) AS assigned FROM prospect WHERE tenant_id = $1",
        tenant,
    )
    assert row is not None
    return int(row["n"]), int(row["assigned"])


async def fairness(conn: asyncpg.Connection, tenant: str) -> dict[str, Any]:
    """Each consultant's load (prospects given to them; zero counts), max/min ratio overall and
    the worst dealership's."""
    rows = await conn.fetch(
        "SELECT c.dealership_id, c.consultant_id, count(p.lead_id) AS load "
        "FROM consultant c LEFT JOIN prospect p ON p.tenant_id = c.tenant_id "
        "AND p.consultant_id = c.consultant_id WHERE c.tenant_id = $1 "
        "GROUP BY c.dealership_id, c.consultant_id",
        tenant,
    )
    loads = [int(r["load"]) for r in rows]
    by_dealer: dict[str, list[int]] = {}
    for r in rows:
        by_dealer.setdefault(r["dealership_id"], []).append(int(r["load"]))

    def ratio(values: list[int]) -> float | None:
        return round(max(values) / min(values), 3) if values and min(values) > 0 else None

    ratios = [ratio(v) for v in by_dealer.values()]
    known = [r for r in ratios if r is not None]
    return {
        "consultants": len(loads),
        "min_load": min(loads, default=0),
        "max_load": max(loads, default=0),
        "max_min_ratio": ratio(loads),
        "worst_dealership_ratio": max(known) if known else None,
        "dealerships_with_idle_consultant": len(ratios) - len(known),
    }

"""The de-duplication lookup probes its indexes by value, even on statistics gone stale.

A dealer group's first big upload grows `lead` faster than autovacuum analyses it. With indexes
led by the tenant, the planner then read every lead of the tenant for each batch's lookup, and
bulk intake slowed down batch after batch (migration 0002).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import intake
from intake.adapters.repository import IntakeRepository
from shared.db import migrate
from shared.testing.plans import send_plans_to

pytestmark = pytest.mark.integration

ALEMBIC_INI = Path(intake.__file__).resolve().parents[2] / "alembic.ini"

_FILL = text(
    "INSERT INTO lead (id, tenant_id, dealership_id, source_id, email, phone, received_at, "
    "last_enquiry_at, enquiry_count, status, sequence) "
    "SELECT gen_random_uuid(), :tenant, gen_random_uuid(), gen_random_uuid(), "
    "'p' || g || '.' || :tenant || '@example.com', '+1416' || lpad(g::text, 7, '0'), "
    "now(), now(), 1, 'open', 1 FROM generate_series(1, :n) AS g"
)


def _index_conditions(plan: dict[str, Any]) -> list[str]:
    found = [plan["Index Cond"]] if "Index Cond" in plan else []
    for child in plan.get("Plans", []):
        found += _index_conditions(child)
    return found


async def test_lookup_probes_by_contact_on_stale_statistics(database_url: str) -> None:
    await migrate(ALEMBIC_INI, database_url)
    engine = create_async_engine(database_url)
    plans: list[str] = []
    try:
        async with AsyncSession(engine) as session, session.begin():
            # Statistics taken while the table held another dealer group's leads only ...
            await session.execute(_FILL, {"tenant": "globex", "n": 2_000})
            await session.execute(text("ANALYZE lead"))
            # ... then acme's first upload, faster than autovacuum analyses it.
            await session.execute(_FILL, {"tenant": "acme", "n": 30_000})
            # auto_explain sends the plan of each statement the repository runs to this client.
            await send_plans_to(
                await session.connection(), plans, this_transaction_only=True, fmt="json"
            )
            await IntakeRepository(session).candidate_leads(
                "acme",
                emails=[f"p{i}.acme@example.com" for i in range(1, 501)],
                phones=[f"+1416{i:07d}" for i in range(1, 501)],
            )
    finally:
        await engine.dispose()
    [plan] = [p for p in plans if "FROM lead" in p]
    conditions = _index_conditions(json.loads(plan[plan.index("{") :])["Plan"])
    # Both halves probe an index by contact; none reads the tenant's leads or the table.
    assert "Seq Scan" not in plan
    assert any("lower(email)" in c for c in conditions), conditions
    assert any("phone" in c for c in conditions), conditions
    assert all("email" in c or "phone" in c for c in conditions), conditions

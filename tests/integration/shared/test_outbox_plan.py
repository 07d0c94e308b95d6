"""The relay's claim walks the pending index in order, even with a plan made on an empty outbox.

A session keeps the plan of a prepared statement; made on an empty outbox it is a bitmap scan and
a sort of every pending row. With autovacuum off or behind, nothing replaces it as the table
grows: a relay took 2.5 s per claim with 500,000 events pending (`shared.db.CLAIM_BY_INDEX`).
The test pins the plan at the first execution (plan_cache_mode), reads the plan of the claim with
auto_explain after the table has grown, and fails without CLAIM_BY_INDEX. (The timer claim,
`LIMIT 1`, keeps its index scan when planned on an empty table: checked the same way.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.messaging.topology import Topology
from shared.outbox import OutboxRelay
from shared.testing.plans import send_plans_to
from tests.integration.shared.helpers import create_messaging_tables

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """One connection, so every claim runs in the session that cached the first plan."""
    engine = create_async_engine(
        database_url,
        pool_size=1,
        max_overflow=0,
        connect_args={"server_settings": {"plan_cache_mode": "force_generic_plan"}},
    )
    await create_messaging_tables(engine)
    yield engine
    await engine.dispose()


def _claim_plan(plans: list[str], table: str) -> str:
    claims = [p for p in plans if f"FROM {table}" in p and "SKIP LOCKED" in p]
    assert claims, plans
    return claims[-1]


async def test_relay_claim_walks_the_pending_index_after_the_outbox_grew(
    engine: AsyncEngine, amqp_url: str, topology: Topology
) -> None:
    relay = OutboxRelay(engine, amqp_url, topology)
    assert await relay.publish_batch() == 0  # the claim's plan, made on the empty outbox
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox_message (event_id, routing_key, body, headers) "
                "SELECT gen_random_uuid(), 'lead.ingested.v1', 'x', '{}' "
                "FROM generate_series(1, 20000)"
            )
        )
    plans: list[str] = []
    async with engine.connect() as conn:  # the pool's one connection, the relay's next
        await send_plans_to(conn, plans)
        await conn.commit()
    await relay.publish_batch()  # no exchange: the rows stay pending; the plan is what counts
    await relay.close()
    plan = _claim_plan(plans, "outbox_message")
    assert "Index Scan using ix_outbox_message_pending" in plan, plan
    assert "Sort" not in plan and "Bitmap" not in plan, plan

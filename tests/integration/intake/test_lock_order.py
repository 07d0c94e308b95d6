"""Batches over several sources take their de-duplication locks once, in one global order."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text

from intake.adapters.repository import IntakeRepository, SourceRow
from intake.service_layer.batching import _Job
from tests.integration.intake.conftest import Intake

pytestmark = pytest.mark.integration

WAITING_FOR_AN_ADVISORY_LOCK = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def _source(intake: Intake, dealership_id: str) -> SourceRow:
    created = await intake.source("acme", dealership_id=dealership_id)
    async with intake.app.state.uow_factory() as uow:
        row = await IntakeRepository(uow.session).source("acme", uuid.UUID(created["id"]))
    assert row is not None
    return row


async def test_two_batches_over_two_sources_in_opposite_orders_never_deadlock(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: each batch, once its first lock call returns, waits until the other has
    returned from its first lock call too, or is blocked waiting for a lock. Locking source by
    source, both then hold one person and wait for the other's (PostgreSQL's deadlock detector
    kills one); locking everything at once, the second waits for the first to commit."""
    dealership = await intake.dealership("acme")
    one, two = await _source(intake, dealership), await _source(intake, dealership)
    receiver = intake.app.state.receiver
    batcher = receiver.batcher
    engine = intake.app.state.engine

    def job(source: SourceRow, email: str) -> _Job:
        body = json.dumps({"email": email}).encode()
        row = receiver.raw_row(
            source, fmt="json", body=body, content_type=None, idempotency_header=None
        )
        return _Job(source, row, None)

    # Each batch has a lead of both sources: the same two people, in opposite orders.
    x = [job(one, "p1@example.com"), job(two, "p2@example.com")]
    y = [job(two, "p2@example.com"), job(one, "p1@example.com")]
    await batcher._store(x + y)

    first_lock_taken: dict[int, asyncio.Event] = {}
    original_lock = IntakeRepository.lock

    async def lock(self: IntakeRepository, keys: list[int]) -> None:
        await original_lock(self, keys)
        me = id(self.session)
        if me in first_lock_taken:
            return
        first_lock_taken[me] = asyncio.Event()
        first_lock_taken[me].set()
        while True:
            others = [e for s, e in first_lock_taken.items() if s != me]
            if others and all(e.is_set() for e in others):
                return
            async with engine.connect() as conn:
                if (await conn.execute(WAITING_FOR_AN_ADVISORY_LOCK)).scalar_one():
                    return
            await asyncio.sleep(0.02)

    monkeypatch.setattr(IntakeRepository, "lock", lock)
    outcomes_x, outcomes_y = await asyncio.gather(batcher._process(x), batcher._process(y))
    outcomes: list[Any] = [*outcomes_x.values(), *outcomes_y.values()]
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert Counter(r.outcome for results in outcomes for r in results) == {
        "ingested": 2,
        "merged": 2,
    }
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM lead"))).scalar_one() == 2

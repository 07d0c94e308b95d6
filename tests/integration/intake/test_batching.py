"""Leads arriving together share transactions, and one bad one never sinks the others."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import text

from intake.adapters.repository import IntakeRepository
from intake.service_layer.receive import InvalidPayload
from tests.integration.intake.conftest import Intake

pytestmark = pytest.mark.integration


async def test_a_bad_payload_in_a_batch_does_not_take_the_others_down(intake: Intake) -> None:
    source = await intake.source("acme")
    receiver = intake.app.state.receiver
    assert receiver.batcher is not None
    async with intake.app.state.uow_factory() as uow:
        row = await IntakeRepository(uow.session).source("acme", uuid.UUID(source["id"]))
    bodies = [json.dumps({"email": f"b{i}@example.com"}).encode() for i in range(8)]
    bodies.insert(3, b'{"email": 12}')  # unreadable: refused on its own
    # Fails inside the batch's transaction: the batch falls back to one by one.
    bodies.insert(
        6, json.dumps({"email": "x@example.com", "dealership_id": str(uuid.uuid4())}).encode()
    )
    outcomes = await asyncio.gather(
        *(receiver.receive(row, fmt="json", body=b) for b in bodies), return_exceptions=True
    )
    bad = [o for o in outcomes if isinstance(o, BaseException)]
    good = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(good) == 8
    assert all(o.results[0].outcome == "ingested" for o in good)
    assert sorted(e.errors[0].field for e in bad if isinstance(e, InvalidPayload)) == [
        "dealership_id",
        "email",
    ]
    assert all(isinstance(e, InvalidPayload) and e.raw_payload_id for e in bad)
    async with intake.app.state.engine.connect() as conn:
        statuses = dict(
            (
                await conn.execute(text("SELECT status, count(*) FROM raw_payload GROUP BY status"))
            ).all()
        )
        leads = (await conn.execute(text("SELECT count(*) FROM lead"))).scalar_one()
    assert statuses == {"processed": 8, "invalid": 2}
    assert leads == 8
    events = await intake.events.wait_for("lead.ingested", n=8)
    assert len(events) == 8


async def test_the_same_person_twice_in_one_batch_is_one_lead(intake: Intake) -> None:
    source = await intake.source("acme")
    async with intake.app.state.uow_factory() as uow:
        row = await IntakeRepository(uow.session).source("acme", uuid.UUID(source["id"]))
    body = json.dumps({"email": "twice@example.com", "phone": "+15195550150"}).encode()
    first, second = await asyncio.gather(
        intake.app.state.receiver.receive(row, fmt="json", body=body),
        intake.app.state.receiver.receive(row, fmt="json", body=body),
    )
    outcomes = sorted([first.results[0].outcome, second.results[0].outcome])
    assert outcomes == ["ingested", "merged"]
    assert first.results[0].lead_id == second.results[0].lead_id

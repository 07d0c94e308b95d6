"""person.erased in crm-queue: the tasks named lose the person, do-not-contact entries go (by
lead or by contact hash), a lead.ingested arriving after the erasure is scrubbed on arrival, a
redelivery changes nothing, and another tenant's lead is left as it was."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from shared.contracts import PersonErasedV1, contact_hash, new_envelope
from tests.integration.crm_queue.conftest import T0, Crm, ingested

pytestmark = pytest.mark.integration


def erased(tenant: str, *lead_ids: uuid.UUID, hashes: tuple[str, ...] = ()) -> Any:
    payload = PersonErasedV1(
        erasure_id=uuid.uuid4(),
        lead_ids=lead_ids,
        requested_at=T0 + timedelta(hours=1),
        erased_at=T0 + timedelta(hours=1),
        contact_hashes=hashes,
    )
    return new_envelope(payload, tenant_id=tenant)


async def _rows(crm: Crm, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with crm.app.state.runtime.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(text(sql), params)]


async def _handled(crm: Crm, event_id: uuid.UUID, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not await _rows(crm, "SELECT 1 FROM inbox_message WHERE event_id = :id", id=event_id):
            await asyncio.sleep(0.05)


async def test_an_erased_person_leaves_tasks_and_the_do_not_contact_list(crm: Crm) -> None:
    zoe = ingested(email="zoe.erased@example.com", phone="+15195550177")
    same_email_elsewhere = ingested(tenant="globex", email="zoe.erased@example.com")
    for lead in (zoe, same_email_elsewhere):
        await crm.publish(lead)
    await crm.task(zoe.lead_id, **crm.staff("admin", dealerships=()))
    await crm.task(same_email_elsewhere.lead_id, **crm.staff("admin", "globex", dealerships=()))
    async with crm.app.state.runtime.engine.begin() as conn:
        # Listed earlier through a lead crm-queue no longer has (found by hash, not by lead).
        await conn.execute(
            text(
                "INSERT INTO do_not_contact (tenant_id, kind, value, lead_id) VALUES "
                "('acme', 'phone', '+15195550177', :other), "
                "('globex', 'email', 'zoe.erased@example.com', :globex)"
            ),
            {"other": uuid.uuid4(), "globex": same_email_elsewhere.lead_id},
        )
    event = erased(
        "acme",
        zoe.lead_id,
        hashes=(
            contact_hash("email", "zoe.erased@example.com"),
            contact_hash("phone", "+15195550177"),
        ),
    )
    await crm.publish(event)
    await _handled(crm, event.event_id)
    await crm.publish(event)  # a redelivery: a no-op

    row = await crm.row(zoe.lead_id)
    assert row is not None
    assert row["person"] == {} and row["comments"] is None and row["do_not_contact"] is True
    assert await _rows(crm, "SELECT * FROM do_not_contact WHERE tenant_id = 'acme'") == []
    assert [r["value"] for r in await _rows(crm, "SELECT value FROM do_not_contact")] == [
        "zoe.erased@example.com"
    ]
    other = await crm.row(same_email_elsewhere.lead_id)
    assert other is not None and other["person"]["email"] == "zoe.erased@example.com"
    queue = (await crm.client.get("/v1/queue", headers=crm.staff("agent"))).json()
    assert zoe.lead_id not in {q["lead_id"] for q in queue}


async def test_a_lead_arriving_after_its_erasure_is_scrubbed_on_arrival(crm: Crm) -> None:
    late = ingested(email="late.erased@example.com", phone="+15195550178")
    event = erased("acme", late.lead_id)
    await crm.publish(event)
    await _handled(crm, event.event_id)
    await crm.publish(late)
    row = await crm.row_when(late.lead_id, lambda r: r["ingested"])
    assert not any(row["person"].values()) and row["do_not_contact"] is True
    assert [t["kind"] for t in await crm.timers_of(late.lead_id)] == []

"""lead.dead in crm-queue: the lead's task is never contacted again (out of the queue, no
timers), the person joins the do-not-contact list when the reason is do_not_contact, a
redelivery changes nothing, and a lead.dead arriving before its lead applies on arrival."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from shared.contracts import LeadDeadV1, new_envelope
from tests.integration.crm_queue.conftest import T0, Crm, ingested

pytestmark = pytest.mark.integration


def dead(of: Any, reason: str) -> Any:
    payload = LeadDeadV1(
        sequence=9, recovery_id=uuid.uuid4(), reason=reason, dead_at=T0 + timedelta(days=90)
    )
    return new_envelope(
        payload, tenant_id=of.tenant_id, dealership_id=of.dealership_id, lead_id=of.lead_id
    )


async def _rows(crm: Crm, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with crm.app.state.runtime.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(text(sql), params)]


async def _handled(crm: Crm, event_id: uuid.UUID, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not await _rows(crm, "SELECT 1 FROM inbox_message WHERE event_id = :id", id=event_id):
            await asyncio.sleep(0.05)


async def _listed(crm: Crm) -> list[tuple[str, str]]:
    rows = await _rows(crm, "SELECT kind, value FROM do_not_contact WHERE tenant_id = 'acme'")
    return sorted((r["kind"], r["value"]) for r in rows)


async def test_a_dead_lead_is_never_contacted_and_do_not_contact_lists_the_person(
    crm: Crm,
) -> None:
    lead = ingested(email="Dora.Dead@example.com", phone="+15195550190")
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    assert await crm.timers_of(lead.lead_id)  # the SLA timer of an open task

    event = dead(lead, "do_not_contact")
    await crm.publish(event)
    await _handled(crm, event.event_id)
    await crm.publish(event)  # a redelivery: a no-op

    row = await crm.row(lead.lead_id)
    assert row is not None and row["do_not_contact"] is True
    assert row["next_attempt_due_at"] is None
    assert await crm.timers_of(lead.lead_id) == []
    assert await _listed(crm) == [("email", "dora.dead@example.com"), ("phone", "+15195550190")]
    queue = (await crm.client.get("/v1/queue", headers=crm.staff("agent"))).json()
    assert str(lead.lead_id) not in {str(q["lead_id"]) for q in queue}
    # The person's next lead opens held: crm-queue's own list has them now.
    again = ingested(email="dora.dead@example.com")
    await crm.publish(again)
    held = await crm.row_when(again.lead_id, lambda r: r["ingested"])
    assert held["state"] == "do_not_contact"


async def test_a_lead_dead_before_its_lead_applies_on_arrival(crm: Crm) -> None:
    lead = ingested(email="early.dead@example.com")
    event = dead(lead, "cadence_exhausted")
    await crm.publish(event)
    await _handled(crm, event.event_id)
    await crm.publish(lead)

    row = await crm.row_when(lead.lead_id, lambda r: r["ingested"])
    assert row["do_not_contact"] is True
    assert await crm.timers_of(lead.lead_id) == []
    assert await _listed(crm) == []  # not the person's wish: their next lead is contacted

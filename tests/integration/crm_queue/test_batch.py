"""A batch of lead events in one transaction ends as the same events one by one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from crm_queue.domain.policy import Policy
from crm_queue.service_layer import handlers
from shared.contracts import ConsentV1
from tests.integration.crm_queue.conftest import T0, Crm, duplicate, ingested
from tests.integration.crm_queue.test_event_order import comparable, timers

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)


def scenario(tag: str) -> tuple[list[Any], list[Any], dict[str, str]]:
    """Events handled before (a lead already known), the events of the batch, and the role of
    each event id, as text (to compare the two runs' timers and outbox rows)."""
    known = ingested(received_at=T0 - 30 * M)
    overtaken = ingested(received_at=T0 - 5 * M)
    listed = ingested(received_at=T0 - 4 * M, email=f"dnc-{tag}@example.com")
    refused = ingested(received_at=T0 - 3 * M, consent=ConsentV1(email=False, sms=False))
    marketplace = ingested(received_at=T0 - 2 * M, kind="marketplace")
    batch = [
        duplicate(overtaken, T0 - 2 * M),  # before its lead: opens the provisional task
        listed,
        overtaken,
        refused,
        listed,  # redelivered within the batch
        marketplace,
        duplicate(known, T0 - M),  # raises a task that exists
        duplicate(refused, T0 - M / 2),  # after its lead, in the same batch
    ]
    roles = {str(e.event_id): f"{e.event_type}#{i}" for i, e in enumerate([known, *batch])}
    return [known], batch, roles


async def state(crm: Crm, events: list[Any], roles: dict[str, str]) -> dict[str, Any]:
    """Each lead's task row and timers, by the role of its lead.ingested event."""
    leads = {e.lead_id: roles[str(e.event_id)] for e in events if e.event_type == "lead.ingested"}
    got: dict[str, Any] = {}
    for lead_id, role in leads.items():
        row = await crm.row(lead_id)
        assert row is not None
        got[role] = {
            "task": {k: v for k, v in comparable(row).items() if k != "person"},  # own emails
            "timers": timers(await crm.timers_of(lead_id)),
            "causation": [
                roles.get(t["payload"]["causation_id"]) for t in await crm.timers_of(lead_id)
            ],
        }
    return got


async def test_a_batch_gives_the_state_of_its_events_one_by_one(crm: Crm) -> None:
    async with crm.app.state.runtime.engine.begin() as conn:
        for tag in ("one", "batch"):
            await conn.execute(
                text(
                    "INSERT INTO do_not_contact (tenant_id, kind, value) "
                    "VALUES ('acme', 'email', :email)"
                ),
                {"email": f"dnc-{tag}@example.com"},
            )
    uows = crm.app.state.uow_factory

    before, events, roles_one = scenario("one")
    for event in [*before, *events]:
        handler = (
            handlers.on_lead_ingested
            if event.event_type == "lead.ingested"
            else handlers.on_lead_duplicate
        )
        await handler(uows(), event, T0)
    one_by_one = await state(crm, [*before, *events], roles_one)

    before, events, roles_batch = scenario("batch")
    await handlers.on_lead_events(uows(), before, T0)
    await handlers.on_lead_events(uows(), events, T0)
    batched = await state(crm, [*before, *events], roles_batch)

    assert batched == one_by_one
    # The cases the batch holds did what they should (not merely the same in both runs).
    tasks = {role: got["task"] for role, got in batched.items()}
    overtaken, listed = tasks["lead.ingested#3"], tasks["lead.ingested#5"]  # #2 redelivered as #5
    assert overtaken["ingested"] and overtaken["enquiries"] == 2
    assert overtaken["received_at"] == T0 - 5 * M
    assert listed["do_not_contact"] and batched["lead.ingested#5"]["timers"] == []
    assert sorted(tasks["lead.ingested#4"]["no_consent_channels"]) == ["email", "sms", "whatsapp"]
    assert tasks["lead.ingested#4"]["enquiries"] == 2
    assert tasks["lead.ingested#0"]["enquiries"] == 2
    assert tasks["lead.ingested#6"]["source_kind"] == "marketplace"
    assert tasks["lead.ingested#6"]["sla_due_at"] == Policy.default().sla_due_at(
        T0 - 2 * M, "marketplace"
    )
    assert batched["lead.ingested#3"]["causation"] == ["lead.ingested#3"]  # the lead moved it
    row = await crm.row(events[2].lead_id)
    assert row is not None and row["correlation_id"] == events[2].correlation_id  # the lead's

    # The whole batch again (a redelivery of every message): nothing changes.
    await handlers.on_lead_events(uows(), events, T0)
    assert await state(crm, [*before, *events], roles_batch) == batched

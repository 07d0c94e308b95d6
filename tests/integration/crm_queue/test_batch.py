"""A batch of lead events in one transaction ends as the same events one by one."""

from __future__ import annotations

import json
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


def scenario(tag: str) -> tuple[list[Any], list[Any], dict[Any, str]]:
    """Events handled before (a lead already known), the events of the batch, and the role of
    each event id (to compare the two runs' outbox rows)."""
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
    roles = {e.event_id: f"{e.event_type}#{i}" for i, e in enumerate([known, *batch])}
    return [known], batch, roles


async def state(crm: Crm, events: list[Any], roles: dict[Any, str]) -> dict[str, Any]:
    """Each lead's task row, timers and outbox events, by the role of its events."""
    leads = {e.lead_id: roles[e.event_id] for e in events if e.event_type == "lead.ingested"}
    got: dict[str, Any] = {}
    for lead_id, role in leads.items():
        row = await crm.row(lead_id)
        assert row is not None
        got[role] = {
            "task": comparable(row),
            "timers": timers(await crm.timers_of(lead_id)),
            "causation": [
                roles.get(t["payload"]["causation_id"]) for t in await crm.timers_of(lead_id)
            ],
        }
    async with crm.app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(text("SELECT routing_key, body FROM outbox_message ORDER BY id"))
        published = []
        for routing_key, body in rows:
            event = json.loads(body)
            if event.get("lead_id") in {str(lead) for lead in leads}:
                published.append(
                    (
                        routing_key,
                        leads[next(k for k in leads if str(k) == event["lead_id"])],
                        roles.get(event["causation_id"]),
                        event["correlation_id"] == _correlation(events, event["lead_id"]),
                    )
                )
    got["published"] = published
    return got


def _correlation(events: list[Any], lead_id: str) -> str:
    return next(
        e.correlation_id
        for e in events
        if str(e.lead_id) == lead_id and e.event_type == "lead.ingested"
    )


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
    tasks = {role: got["task"] for role, got in batched.items() if role != "published"}
    overtaken, listed = tasks["lead.ingested#3"], tasks["lead.ingested#2"]
    assert overtaken["ingested"] and overtaken["enquiries"] == 2
    assert overtaken["received_at"] == T0 - 5 * M
    assert listed["do_not_contact"] and batched["lead.ingested#2"]["timers"] == []
    assert sorted(tasks["lead.ingested#4"]["no_consent_channels"]) == ["email", "sms"]
    assert tasks["lead.ingested#4"]["enquiries"] == 2
    assert tasks["lead.ingested#0"]["enquiries"] == 2
    assert tasks["lead.ingested#6"]["source_kind"] == "marketplace"
    assert tasks["lead.ingested#6"]["sla_due_at"] == Policy.default().sla_due_at(
        T0 - 2 * M, "marketplace"
    )
    assert batched["lead.ingested#3"]["causation"] == ["lead.ingested#3"]  # the lead moved it
    assert batched["published"], "the batch published its tasks' events"

    # The whole batch again (a redelivery of every message): nothing changes.
    await handlers.on_lead_events(uows(), events, T0)
    assert await state(crm, [*before, *events], roles_batch) == batched

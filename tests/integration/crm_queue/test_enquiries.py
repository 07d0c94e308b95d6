"""Every enquiry on the task, contact details merged, and leads of people who must not be
contacted kept out of the queue (issue 12)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from shared.contracts import LeadDuplicateV1, PersonV1, SourceRefV1, new_envelope
from tests.integration.crm_queue.conftest import T0, Crm, Handled, ingested
from tests.integration.crm_queue.test_event_order import comparable, timers

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)


def repeat(of: Any, at: Any, **payload: Any) -> Any:
    """The lead.duplicate intake publishes now: the new enquiry whole."""
    body = {
        "sequence": 2,
        "enquiry_id": uuid.uuid4(),
        "source": SourceRefV1(source_id="s2", kind="marketplace", name="Cars", campaign="autumn"),
        "matched_on": ["email"],
        "received_at": at,
        "enquiry_dealership_id": "d2",
    } | payload
    return new_envelope(
        LeadDuplicateV1(**body),
        tenant_id=of.tenant_id,
        dealership_id=of.dealership_id,
        lead_id=of.lead_id,
    )


def mobile(email: str) -> dict[str, Any]:
    return {
        "person": PersonV1(email=email, phone="+14165550177"),
        "comments": "call me after 6",
    }


async def test_the_task_lists_every_enquiry_with_contact_details_merged(crm: Crm) -> None:
    lead = ingested(email="ann@example.com", phone="+14165550100")
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    await crm.publish(repeat(lead, T0 + M, **mobile("ann@example.com")))
    row = await crm.row_when(lead.lead_id, lambda r: r["enquiries"] == 2)
    assert row["person"]["phone"] == "+14165550100"  # the lead's own stays first
    assert row["person"]["other_phones"] == ["+14165550177"]  # the new mobile joins it
    task = (await crm.client.get(f"/v1/leads/{lead.lead_id}", headers=crm.staff())).json()
    assert task["person"]["other_phones"] == ["+14165550177"]
    first, second = task["enquiry_list"]
    assert (first["kind"], first["enquiry_id"]) == ("lead", str(lead.lead_id))
    assert first["dealership_id"] == "d1"
    assert second["kind"] == "repeat"
    assert second["comments"] == "call me after 6"  # what the agent must see before calling
    assert second["dealership_id"] == "d2"
    assert second["source"]["campaign"] == "autumn"
    assert second["person"]["phone"] == "+14165550177"
    # After an agent's command the answer lists them too.
    r = await crm.act(lead.lead_id, "claim")
    assert len(r.json()["enquiry_list"]) == 2
    # The prospect goes to assignment with both enquiries and the merged contact details.
    r = await crm.act(lead.lead_id, "qualify", {"outcome": "quotation.requested"})
    assert r.status_code == 200, r.text
    [q] = await crm.events.wait_for("lead.qualified", lead_id=lead.lead_id)
    assert [e["comments"] for e in q["payload"]["enquiries"]] == [None, "call me after 6"]
    assert q["payload"]["enquiries"][1]["campaign"] == "autumn"
    assert q["payload"]["person"]["other_phones"] == ["+14165550177"]


async def test_a_repeat_before_its_lead_gives_the_same_task_and_enquiries(crm: Crm) -> None:
    in_order = ingested(received_at=T0 - 5 * M, email="bo@example.com", phone="+14165550100")
    await crm.publish(in_order)
    await crm.row_when(in_order.lead_id, lambda r: True)
    await crm.publish(repeat(in_order, T0 - 2 * M, **mobile("bo.new@example.com")))
    expected = await crm.row_when(in_order.lead_id, lambda r: r["enquiries"] == 2)

    overtaken = ingested(received_at=T0 - 5 * M, email="bo@example.com", phone="+14165550100")
    await crm.publish(repeat(overtaken, T0 - 2 * M, **mobile("bo.new@example.com")))
    provisional = await crm.row_when(overtaken.lead_id, lambda r: True)
    assert provisional["person"] == {}  # nobody knows whom to call before the lead comes
    await crm.publish(overtaken)
    got = await crm.row_when(overtaken.lead_id, lambda r: r["ingested"])

    assert comparable(got) == comparable(expected)
    assert got["person"]["other_emails"] == ["bo.new@example.com"]
    assert got["person"]["other_phones"] == ["+14165550177"]
    views = [
        (await crm.client.get(f"/v1/leads/{x.lead_id}", headers=crm.staff())).json()
        for x in (in_order, overtaken)
    ]
    kinds = [[(e["kind"], e["comments"]) for e in v["enquiry_list"]] for v in views]
    assert kinds[0] == kinds[1] == [("lead", None), ("repeat", "call me after 6")]


async def _rows_naming(crm: Crm, lead_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of crm-queue's database that names the lead, by table."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with crm.app.state.runtime.engine.connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                )
            )
        ).scalars()
        for table in sorted(tables):
            rows = await conn.execute(text(f'SELECT * FROM "{table}"'))
            hits = [dict(r._mapping) for r in rows if str(lead_id) in str(tuple(r))]
            if hits:
                found[table] = hits
    return found


@pytest.mark.parametrize("order", ["lead first", "repeat first"])
async def test_a_do_not_contact_lead_is_recorded_but_no_contact_task(
    crm: Crm, handled: Handled, order: str
) -> None:
    lead = ingested(email="stop@example.com")
    lead = lead.model_copy(
        update={"payload": lead.payload.model_copy(update={"do_not_contact": True})}
    )
    again = repeat(lead, T0 + M)
    events = [lead, again] if order == "lead first" else [again, lead]
    for event in events:
        await crm.publish(event)
        await handled.wait(event.event_id)

    # Managers see it, in a state of its own ...
    r = await crm.client.get("/v1/leads?state=do_not_contact", headers=crm.staff("manager"))
    assert [t["lead_id"] for t in r.json()] == [str(lead.lead_id)]
    task = await crm.task(lead.lead_id)
    assert (task["state"], task["do_not_contact"], task["enquiries"]) == (
        "do_not_contact",
        True,
        2,
    )
    # ... agents never get it, and nobody can contact it.
    assert (await crm.client.get("/v1/queue", headers=crm.staff())).json() == []
    r = await crm.client.get("/v1/leads?state=open", headers=crm.staff("manager"))
    assert r.json() == []
    await crm.act(lead.lead_id, "claim")
    r = await crm.act(lead.lead_id, "attempts", {"channel": "call", "outcome": "reached"})
    assert (r.status_code, r.json()["rule"]) == (422, "contact.do_not_contact")

    # Every table of crm-queue's database: the lead is a held record and its enquiries, no
    # timer, no attempt, nothing published.
    rows = await _rows_naming(crm, lead.lead_id)
    assert sorted(rows) == ["enquiry", "task"], rows
    [row] = rows["task"]
    assert (row["state"], row["next_attempt_due_at"], row["sla_breached_at"]) == (
        "do_not_contact",
        None,
        None,
    )
    assert timers(await crm.timers_of(lead.lead_id)) == []
    assert await crm.move(timedelta(days=60)) == 0  # no SLA, no pool: nothing ever fires
    assert [e for e in await crm.events.settle() if e["producer"] == "crm-queue"] == []


async def test_an_enquiry_for_the_consultant_leaves_the_task_alone(
    crm: Crm, handled: Handled
) -> None:
    """A lead.duplicate with stage `prospect` (the person asked again while their lead is an
    open prospect) is assignment's: the qualified task is not counted, raised or reopened, and
    a lead crm-queue has no task of gets none (issue 13)."""
    lead = ingested(email="pro@example.com")
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    r = await crm.act(lead.lead_id, "claim")
    assert r.status_code == 200, r.text
    r = await crm.act(lead.lead_id, "qualify", {"outcome": "quotation.requested"})
    assert r.status_code == 200, r.text
    before = await crm.row(lead.lead_id)
    assert before is not None
    # Made before the qualification by the clock (a first-contact repeat that old would count).
    for_consultant = repeat(lead, T0 - M, stage="prospect", **mobile("pro@example.com"))
    await crm.publish(for_consultant)
    await crm.publish(for_consultant)  # a redelivery
    await handled.wait(for_consultant.event_id, times=2)
    after = await crm.row(lead.lead_id)
    assert after == before
    task = (await crm.client.get(f"/v1/leads/{lead.lead_id}", headers=crm.staff())).json()
    assert [e["kind"] for e in task["enquiry_list"]] == ["lead"]

    stranger = ingested(email="nobody@example.com")  # never ingested here
    orphan = repeat(stranger, T0, stage="prospect")
    await crm.publish(orphan)
    await handled.wait(orphan.event_id)
    assert await crm.row(stranger.lead_id) is None
    queue = (await crm.client.get("/v1/queue", headers=crm.staff())).json()
    assert str(stranger.lead_id) not in [t["lead_id"] for t in queue]

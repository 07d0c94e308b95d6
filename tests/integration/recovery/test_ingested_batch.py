"""`lead.ingested` is handled a batch per transaction: a batch mixing people, a repeated event,
two leads of one person, a returning person and an erased lead gives what the same events give
one at a time."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from recovery.service_layer import handlers
from tests.integration.recovery.conftest import (
    DAY,
    T0,
    Recovery,
    lead_ingested,
    lead_lost,
    person,
    person_erased,
)

pytestmark = pytest.mark.integration


async def _contacts(svc: Recovery, *lead_ids: Any) -> dict[str, tuple[Any, ...]]:
    async with svc.app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT lead_id, email_key IS NOT NULL, phone_key IS NOT NULL, previous_lead_id "
                "FROM lead_contact WHERE lead_id = ANY(:ids)"
            ),
            {"ids": list(lead_ids)},
        )
        return {str(r[0]): tuple(r[1:]) for r in rows}


async def test_a_mixed_batch_in_one_transaction(svc: Recovery) -> None:
    comes_back = person("back@example.com", phone=None)
    lost = lead_lost(who=comes_back)
    await svc.publish(lost)
    await svc.run(lost.lead_id)
    gone = lead_lost(who=person("gone@example.com", phone=None))
    await svc.publish(gone)
    await svc.run(gone.lead_id)
    erased = person_erased("acme", gone.lead_id)
    await svc.publish(erased)
    await svc.run(gone.lead_id, until=lambda runs: runs[0]["state"] == "ended")

    newcomer = person("new@example.com", phone="+4915199999999")
    first = lead_ingested(newcomer, received_at=T0 + DAY)
    second = lead_ingested(newcomer, received_at=T0 + 2 * DAY)  # the same person again
    back = lead_ingested(comes_back, received_at=T0 + 3 * DAY)
    late = lead_ingested(person("gone@example.com", phone=None), lead_id=gone.lead_id)
    batch = [first, back, second, first, late]  # `first` delivered twice in the batch
    await handlers.on_leads_ingested(svc.app.state.uow_factory(), batch, T0 + 3 * DAY)

    # The returning person's run ended, pointing at the new lead; nobody else's did.
    run = await svc.run(lost.lead_id, until=lambda runs: runs[0]["state"] == "ended")
    assert (run["outcome"], run["returned_lead_id"]) == ("returned", str(back.lead_id))
    # Each lead noted once; the erased lead's person is not remembered.
    contacts = await _contacts(svc, first.lead_id, second.lead_id, back.lead_id, gone.lead_id)
    assert contacts[str(first.lead_id)] == (True, True, None)
    assert contacts[str(second.lead_id)] == (True, True, None)
    assert contacts[str(back.lead_id)] == (True, False, None)
    assert contacts[str(gone.lead_id)][:2] == (False, False)
    async with svc.app.state.runtime.engine.connect() as conn:
        claimed = await conn.scalar(
            text("SELECT count(*) FROM inbox_message WHERE event_id = ANY(:ids)"),
            {"ids": [e.event_id for e in (first, second, back, late)]},
        )
    assert claimed == 4
    # The same batch again (a redelivery) changes nothing.
    await handlers.on_leads_ingested(svc.app.state.uow_factory(), batch, T0 + 4 * DAY)
    assert await _contacts(svc, first.lead_id, second.lead_id, back.lead_id) == {
        k: v for k, v in contacts.items() if k != str(gone.lead_id)
    }

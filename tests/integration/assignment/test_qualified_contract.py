"""What assignment consumes carries what it needs: crm-queue's `lead.qualified` now brings the
person, the enquiry, a checked appointment and a real hot flag; assignment routes on them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from shared.contracts import Envelope, LeadQualifiedV1
from tests.integration.crm_queue.conftest import Crm, ingested
from tests.integration.crm_queue.conftest import running_crm as crm_runner  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration


Runner = Callable[..., AbstractAsyncContextManager[Crm]]


@pytest.fixture
async def crm(crm_runner: Runner) -> AsyncIterator[Crm]:  # noqa: F811 (the fixture above)
    async with crm_runner(run_timers=False) as running:
        yield running


async def _qualify(crm: Crm, appointment_at: str | None, outcome: str) -> Any:
    lead = ingested(email=f"{uuid.uuid4().hex[:6]}@example.com")
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    assert (await crm.act(lead.lead_id, "claim")).status_code == 200
    body = {"outcome": outcome, "appointment_at": appointment_at}
    r = await crm.act(lead.lead_id, "qualify", body)
    assert r.status_code == 200, r.text
    [event] = await crm.events.wait_for("lead.qualified", lead_id=lead.lead_id)
    return event


async def test_lead_qualified_carries_person_enquiry_appointment_and_hot(crm: Crm) -> None:
    soon = await _qualify(crm, "2026-03-03T09:00:00+00:00", "appointment.test_drive")
    typed = Envelope[LeadQualifiedV1].model_validate(soon)
    assert typed.payload.person is not None and typed.payload.person.last_name == "Roe"
    [enquiry] = typed.payload.enquiries
    assert enquiry.source_id == "s1" and enquiry.source_name == "Own site"
    assert typed.payload.appointment is not None
    assert typed.payload.appointment.kind == "test_drive"
    assert typed.payload.hot is True  # within 24 h of qualifying
    later = await _qualify(crm, "2026-03-09T09:00:00+00:00", "appointment.showroom")
    assert (
        later["payload"]["hot"] is False and later["payload"]["appointment"]["kind"] == "showroom"
    )
    # An appointment in the past is refused; a quotation books none.
    lead = ingested(email=f"{uuid.uuid4().hex[:6]}@example.com")
    await crm.publish(lead)
    await crm.task(lead.lead_id)
    assert (await crm.act(lead.lead_id, "claim")).status_code == 200
    body = {"outcome": "appointment.showroom", "appointment_at": "2026-03-01T09:00:00+00:00"}
    r = await crm.act(lead.lead_id, "qualify", body)
    assert r.status_code == 422 and r.json()["rule"] == "appointment.not_in_future"
    quote = await _qualify(crm, None, "quotation.requested")
    assert quote["payload"]["appointment"] is None

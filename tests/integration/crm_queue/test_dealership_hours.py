"""A dealership's SLA counts its own opening hours from its first lead (issue 12).

intake names the dealership's zone on lead.ingested; crm-queue starts the policy from the dealer
group's default hours in that zone, so a lead arriving at night is due after the doors open,
not at night. A manager's policy for the dealership wins; an admin changes the defaults.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.contracts import DealershipPlaceV1, FieldErrorV1, new_envelope
from tests.integration.crm_queue.conftest import Crm, ingested

pytestmark = pytest.mark.integration

TORONTO = DealershipPlaceV1(timezone="America/Toronto", country="CA")
# Sunday 1 March 2026, 22:00 in Toronto (EST, UTC-5): closed until Monday 09:00.
SUNDAY_NIGHT = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
MONDAY_OPENING = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def placed(
    dealership: str = "d1",
    received_at: datetime = SUNDAY_NIGHT,
    place: DealershipPlaceV1 | None = TORONTO,
    **payload: Any,
) -> Any:
    """lead.ingested as intake now sends it: with the dealership's zone and country."""
    base = ingested("acme", dealership, received_at=received_at)
    changed = base.payload.model_copy(update={"dealership": place, **payload})
    return new_envelope(changed, tenant_id="acme", dealership_id=dealership, lead_id=uuid.uuid4())


def due(task: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(task["sla_due_at"])


async def test_a_night_lead_is_due_after_the_dealership_opens_in_its_zone(crm: Crm) -> None:
    lead = placed()
    await crm.publish(lead)
    task = await crm.task(lead.lead_id)
    # Before: UTC and always open, so due at 03:15 UTC, in the middle of the night.
    assert due(task) == MONDAY_OPENING.replace(minute=15)
    policy = await crm.client.get("/v1/dealerships/d1/policy", headers=crm.staff("manager"))
    assert policy.status_code == 200, policy.text
    assert policy.json()["hours"]["timezone"] == "America/Toronto"
    assert policy.json()["hours"]["week"]["sat"] == [["09:00", "17:00"]]
    assert policy.json()["hours"]["week"]["sun"] == []


async def test_a_dealership_whose_zone_is_not_named_keeps_the_old_default(crm: Crm) -> None:
    lead = placed(place=None)
    await crm.publish(lead)
    task = await crm.task(lead.lead_id)
    assert due(task) == SUNDAY_NIGHT.replace(minute=15)  # always open, as before


async def test_a_policy_set_for_the_dealership_wins(crm: Crm) -> None:
    first = placed()
    await crm.publish(first)
    await crm.task(first.lead_id)
    manager = crm.staff("manager")
    night_shift = {"hours": {"timezone": "America/Toronto", "week": {"sun": [["20:00", "24:00"]]}}}
    r = await crm.client.put("/v1/dealerships/d1/policy", json=night_shift, headers=manager)
    assert r.status_code == 200, r.text
    second = placed()
    await crm.publish(second)
    task = await crm.task(second.lead_id)
    assert due(task) == SUNDAY_NIGHT.replace(minute=15)  # open on Sunday evenings


async def test_an_admin_changes_the_default_hours_of_the_group(crm: Crm) -> None:
    admin = crm.staff("admin", dealerships=())
    r = await crm.client.get("/v1/default-hours", headers=crm.staff("manager"))
    assert r.status_code == 200, r.text
    assert r.json()["week"]["mon"] == [["09:00", "19:00"]]
    sundays = {"week": {"sun": [["21:00", "24:00"]], "mon": [["09:00", "19:00"]]}}
    # A manager of some dealerships does not decide for the whole group.
    r = await crm.client.put("/v1/default-hours", json=sundays, headers=crm.staff("manager"))
    assert r.status_code == 403, r.text
    for bad, field in (
        ({"week": {}}, "week"),  # never open
        ({"week": {"mon": [["19:00", "09:00"]]}}, "week.mon[0]"),
        ({"week": {"mon": [["09:00", "19:00"]]}, "timezone": "UTC"}, "timezone"),
    ):
        r = await crm.client.put("/v1/default-hours", json=bad, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith(field), r.text
    r = await crm.client.put("/v1/default-hours", json=sundays, headers=admin)
    assert r.status_code == 200, r.text
    lead = placed()
    await crm.publish(lead)
    task = await crm.task(lead.lead_id)
    # Open from 21:00 on Sunday in Toronto: 22:00 there is open, due 15 minutes later.
    assert due(task) == SUNDAY_NIGHT.replace(minute=15)
    other = crm.staff("admin", tenant="globex", dealerships=())
    assert (await crm.client.get("/v1/default-hours", headers=other)).json()["week"]["sun"] == []


async def test_the_agent_reads_what_intake_dropped(crm: Crm) -> None:
    warning = FieldErrorV1(field="phone", reason="not a phone number", value="555-CALL-NOW")
    lead = placed(warnings=(warning,))
    await crm.publish(lead)
    task = await crm.task(lead.lead_id, **crm.staff("agent"))
    assert task["warnings"] == [
        {"field": "phone", "reason": "not a phone number", "value": "555-CALL-NOW"}
    ]

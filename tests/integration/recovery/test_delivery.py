"""Duplicate and out-of-order deliveries: the same state whatever arrives twice or first."""

from __future__ import annotations

import pytest

from shared.contracts import LostReasonCode, new_envelope
from tests.integration.recovery.conftest import DAY, T0, Recovery, lead_lost, prospect_lost

pytestmark = pytest.mark.integration


async def test_the_same_loss_twice_starts_one_run(svc: Recovery) -> None:
    lost = lead_lost()
    await svc.publish(lost)
    await svc.publish(lost)  # redelivered: same event id
    again = new_envelope(
        lost.payload, tenant_id="acme", dealership_id="d1", lead_id=lost.lead_id
    )  # re-published: another event id, the same loss
    await svc.publish(again)
    await svc.events.wait_for("lead.lost", 3, lead_id=lost.lead_id)
    # The run's event first (the relay may lag on a busy machine), then anything more.
    await svc.events.wait_for("recovery.scheduled", lead_id=lost.lead_id)
    await svc.events.settle()
    [run] = await svc.runs(lost.lead_id)
    assert run["state"] == "scheduled"
    assert len(svc.events.of("recovery.scheduled")) == 1


async def test_a_newer_loss_of_the_lead_supersedes_and_an_older_one_is_ignored(
    svc: Recovery,
) -> None:
    first = lead_lost(LostReasonCode.NOT_REACHED_MAX_ATTEMPTS)
    # Reactivated, became a prospect, lost again 20 days later.
    second = prospect_lost(
        LostReasonCode.PROSPECT_PRICE, lead_id=first.lead_id, lost_at=T0 + 20 * DAY
    )
    await svc.publish(second)
    await svc.run(second.lead_id)
    await svc.publish(first)  # arrives late
    await svc.events.wait_for("lead.lost", lead_id=first.lead_id)
    await svc.events.settle()
    [run] = await svc.runs(first.lead_id)
    assert run["origin"] == "prospect" and run["state"] == "scheduled"
    # In order, the newer loss ends the older run and starts its own.
    other = lead_lost()
    await svc.publish(other)
    await svc.run(other.lead_id)
    newer = prospect_lost(lead_id=other.lead_id, lost_at=T0 + 10 * DAY)
    await svc.publish(newer)
    runs = await svc.runs(other.lead_id, until=lambda runs: len(runs) == 2)
    assert sorted((r["origin"], r["outcome"]) for r in runs) == [
        ("lead", "superseded"),
        ("prospect", None),
    ]
    sequences = [
        e["payload"]["sequence"]
        for e in await svc.events.settle()
        if e["lead_id"] == str(other.lead_id) and e["producer"] == "recovery"
    ]
    assert sorted(sequences) == list(range(1, len(sequences) + 1))  # one counter per lead

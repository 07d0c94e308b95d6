"""A phone-call notification: no lead, but `call.received`, in the transaction that marks its
raw payload processed (so the event is published once, however often the message comes)."""

from __future__ import annotations

from typing import Any

from intake.adapters.repository import SourceRow
from intake.domain.call import CallNotice, normalise_call
from intake.service_layer import events
from intake.service_layer.unit_of_work import IntakeUnitOfWork


async def record_call(
    uow: IntakeUnitOfWork,
    source: SourceRow,
    raw: Any,
    notice: CallNotice,
    correlation_id: str | None,
) -> None:
    """`raw`: the notification's raw payload row (or its values: `id`, `received_at`)."""
    places = await uow.repo.dealership_places(source.tenant_id)
    place = places.get(source.dealership_id)
    call = normalise_call(
        notice, country=place.country if place else "", received_at=raw.received_at
    )
    uow.emit(
        events.call_received(source, raw.id, raw.received_at, call, correlation_id or str(raw.id))
    )

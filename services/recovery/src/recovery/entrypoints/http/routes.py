"""The CRM department works due follow-ups (claim, outcome); managers see every run and set
the tenant's cadences."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request

from recovery.domain.cadence import Cadences
from recovery.domain.recovery import OutcomeDetails
from recovery.entrypoints.http.deps import Agent, Manager, Now, Uow
from recovery.entrypoints.http.errors import (
    INVALID_REQUEST,
    NO_RECOVERY,
    RULE_OR_INVALID,
    STATE,
    WITH_BODY,
    invalid,
    not_found,
    refused,
)
from recovery.entrypoints.http.schemas import CadencesIn, CadencesOut, OutcomeBody, RecoveryOut
from recovery.service_layer import handlers
from shared.http import STAFF_AUTH

router = APIRouter(prefix="/v1/recovery", tags=["recovery"], responses=STAFF_AUTH)

StateIn = Literal["scheduled", "due", "ended"]
DealershipIn = Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


def recovery_out(row: Any, attempts: list[Any] | None = None) -> dict[str, Any]:
    data = dict(row._mapping)
    data["attempts"] = [dict(a._mapping) for a in attempts or []]
    return data


async def _view(unit: Uow, actor: handlers.Actor, recovery_id: UUID) -> dict[str, Any]:
    async with unit:
        row = await unit.repo.row(actor.tenant_id, recovery_id)
        if row is None or not actor.sees(row.dealership_id):
            raise not_found(handlers.NotFound(f"no follow-up {recovery_id} in your dealerships"))
        return recovery_out(row, await unit.repo.attempts(actor.tenant_id, recovery_id))


async def _act(unit: Uow, actor: handlers.Actor, recovery_id: UUID, coro: Any) -> Any:
    try:
        await coro
    except handlers.Refused as exc:
        return refused(exc)
    except handlers.NotFound as exc:
        raise not_found(exc) from exc
    return await _view(unit, actor, recovery_id)


def _cadences_out(cadences: Cadences) -> dict[str, Any]:
    return cadences.to_json() | {"effective": cadences.effective()}


@router.get("/cadences", response_model=CadencesOut)
async def get_cadences(actor: Manager, unit: Uow) -> Any:
    """The tenant's cadences: its own settings and the days every recoverable reason gets."""
    async with unit:
        return _cadences_out(await unit.repo.cadences(actor.tenant_id))


@router.put("/cadences", response_model=CadencesOut, responses=INVALID_REQUEST | WITH_BODY)
async def put_cadences(body: CadencesIn, actor: Manager, unit: Uow) -> Any:
    """Set the tenant's cadences (runs already going keep theirs until the reason changes)."""
    config = body.model_dump(mode="json")
    return _cadences_out(await handlers.put_cadences(unit, actor, config))


@router.get("/due", response_model=list[RecoveryOut], responses=INVALID_REQUEST)
async def due(
    actor: Agent,
    unit: Uow,
    clock: Now,
    dealership_id: DealershipIn | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Any:
    """Follow-ups due now: lost prospects first (staff invested in them), then the longest
    waiting. Steps another agent holds a lease on are left out."""
    dealerships = actor.dealerships
    if dealership_id is not None:
        if not actor.sees(dealership_id):
            return []
        dealerships = (dealership_id,)
    async with unit:
        rows = await unit.repo.due(actor.tenant_id, dealerships, actor.subject, clock.now(), limit)
    return [recovery_out(r) for r in rows]


@router.get("", response_model=list[RecoveryOut], responses=INVALID_REQUEST)
async def every_recovery(
    actor: Manager,
    unit: Uow,
    state: Annotated[list[StateIn] | None, Query(max_length=3)] = None,
    lead_id: UUID | None = None,
    origin: Literal["lead", "prospect"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Any:
    """Every run of the manager's dealerships (default: those still going, scheduled or due),
    lost prospects first, then by due time."""
    async with unit:
        rows = await unit.repo.every(
            actor.tenant_id,
            actor.dealerships,
            states=state or ["scheduled", "due"],
            lead_id=lead_id,
            origin=origin,
            limit=limit,
            offset=offset,
        )
    return [recovery_out(r) for r in rows]


@router.get("/{recovery_id}", response_model=RecoveryOut, responses=NO_RECOVERY | INVALID_REQUEST)
async def one_recovery(recovery_id: UUID, actor: Agent, unit: Uow) -> Any:
    return await _view(unit, actor, recovery_id)


@router.post(
    "/{recovery_id}/claim",
    response_model=RecoveryOut,
    responses=NO_RECOVERY | STATE | INVALID_REQUEST,
)
async def claim(recovery_id: UUID, actor: Agent, unit: Uow, clock: Now, request: Request) -> Any:
    """A lease on the follow-up (default 10 minutes, renewed by claiming again): nobody else
    contacts the person meanwhile, and it leaves the others' due lists."""
    lease = timedelta(minutes=request.app.state.settings.lease_minutes)
    return await _act(
        unit, actor, recovery_id, handlers.claim(unit, actor, recovery_id, clock.now(), lease)
    )


@router.post(
    "/{recovery_id}/outcome",
    response_model=RecoveryOut,
    responses=NO_RECOVERY | STATE | RULE_OR_INVALID | WITH_BODY,
)
async def outcome(recovery_id: UUID, body: OutcomeBody, actor: Agent, unit: Uow, clock: Now) -> Any:
    """Record what came of the follow-up (the caller must hold the lease; managers need not).
    Every outcome publishes `recovery.attempted`; `reactivated` publishes `lead.reactivated`,
    `bought_elsewhere` `lead.bought_elsewhere`, `dead` and `do_not_contact` `lead.dead`, the
    others schedule the next step (`recovery.scheduled`) or, past the last, `lead.dead`."""
    if body.outcome == "bought_elsewhere" and body.same_brand is None:
        raise invalid("same_brand", "required when the outcome is bought_elsewhere")
    if body.reason_code is not None and body.outcome != "still_lost":
        raise invalid("reason_code", "only with the outcome still_lost")
    details = OutcomeDetails(body.reason_code, body.same_brand, body.brand, body.dealer)
    return await _act(
        unit,
        actor,
        recovery_id,
        handlers.record_outcome(
            unit,
            actor,
            recovery_id,
            body.outcome,
            clock.now(),
            channel=body.channel,
            note=body.note,
            details=details,
        ),
    )

"""Managers keep the roster (consultants, their skills, hours, absences, caps) and each
dealership's routing; consultants clock in and out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from assignment.domain.consultant import Absence, Consultant
from assignment.domain.rules import Routing
from assignment.domain.schedule import WeeklyHours
from assignment.entrypoints.http.deps import Manager, Now, Staff, Uow
from assignment.entrypoints.http.errors import (
    INVALID_REQUEST,
    NO_CONSULTANT,
    NO_DEALERSHIP,
    RULE_OR_INVALID,
    STATE,
    WITH_BODY,
    invalid,
    not_found,
    refused,
)
from assignment.entrypoints.http.schemas import (
    ConsultantId,
    ConsultantIn,
    ConsultantOut,
    DealershipId,
    NewConsultantIn,
    RoutingIn,
)
from assignment.service_layer import handlers
from shared.http import STAFF_AUTH

router = APIRouter(prefix="/v1", tags=["roster"], responses=STAFF_AUTH)


def _domain(tenant_id: str, consultant_id: str, body: ConsultantIn) -> Consultant:
    try:
        hours = WeeklyHours.from_json(body.hours.model_dump()) if body.hours else None
    except ValueError as exc:
        raise invalid("hours", str(exc)) from exc
    return Consultant(
        tenant_id=tenant_id,
        consultant_id=consultant_id,
        dealership_id=body.dealership_id,
        name=body.name,
        brands=frozenset(b.casefold() for b in body.brands),
        conditions=frozenset(body.conditions),
        languages=frozenset(lang.split("-")[0].casefold() for lang in body.languages),
        hours=hours,
        absences=tuple(Absence(a.start, a.end, a.reason) for a in body.absences),
        cap=body.cap,
        active=body.active,
    )


def _out(c: Consultant, open_prospects: int, now: Any) -> dict[str, Any]:
    return {
        "consultant_id": c.consultant_id,
        "dealership_id": c.dealership_id,
        "name": c.name,
        "brands": sorted(c.brands),
        "conditions": sorted(c.conditions),
        "languages": sorted(c.languages),
        "hours": c.hours.to_json() if c.hours else None,
        "absences": [{"start": a.start, "end": a.end, "reason": a.reason} for a in c.absences],
        "cap": c.cap,
        "active": c.active,
        "clocked": c.clocked,
        "present": c.is_present(now),
        "open_prospects": open_prospects,
        "last_assigned_at": c.last_assigned_at,
    }


async def _view(unit: Uow, tenant_id: str, consultant_id: str, now: Any) -> dict[str, Any]:
    async with unit:
        c = await unit.repo.consultant(tenant_id, consultant_id)
        assert c is not None
        loads = await unit.repo.open_loads(tenant_id, c.dealership_id)
    return _out(c, loads.get(consultant_id, 0), now)


@router.post(
    "/consultants",
    response_model=ConsultantOut,
    status_code=201,
    responses=NO_DEALERSHIP | STATE | RULE_OR_INVALID | WITH_BODY,
)
async def create_consultant(body: NewConsultantIn, actor: Manager, unit: Uow, clock: Now) -> Any:
    """Add a consultant to a dealership's roster (id = the subject of their staff token)."""
    c = _domain(actor.tenant_id, body.consultant_id, body)
    try:
        await handlers.put_consultant(unit, actor, c, clock.now(), create=True)
    except handlers.Refused as exc:
        return refused(exc)
    except handlers.NotFound as exc:
        raise not_found(exc) from exc
    return await _view(unit, actor.tenant_id, c.consultant_id, clock.now())


@router.put(
    "/consultants/{consultant_id}",
    response_model=ConsultantOut,
    responses=NO_CONSULTANT | RULE_OR_INVALID | WITH_BODY,
)
async def replace_consultant(
    consultant_id: ConsultantId, body: ConsultantIn, actor: Manager, unit: Uow, clock: Now
) -> Any:
    """Replace the profile: skills, hours, absences, cap, active (presence is kept)."""
    c = _domain(actor.tenant_id, consultant_id, body)
    try:
        await handlers.put_consultant(unit, actor, c, clock.now(), create=False)
    except handlers.Refused as exc:
        return refused(exc)
    except handlers.NotFound as exc:
        raise not_found(exc) from exc
    return await _view(unit, actor.tenant_id, consultant_id, clock.now())


@router.get("/consultants", response_model=list[ConsultantOut], responses=INVALID_REQUEST)
async def list_consultants(
    actor: Manager,
    unit: Uow,
    clock: Now,
    # No control characters: PostgreSQL refuses a NUL in a query parameter (it answered 500).
    dealership_id: Annotated[
        str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    ] = None,
) -> Any:
    now = clock.now()
    async with unit:
        rows = await unit.repo.consultant_rows(actor.tenant_id, actor.dealerships, dealership_id)
        consultants = [unit.repo._consultant(r) for r in rows]
        loads: dict[str, dict[str, int]] = {}
        for d in sorted({c.dealership_id for c in consultants}):
            loads[d] = await unit.repo.open_loads(actor.tenant_id, d)
    return [_out(c, loads[c.dealership_id].get(c.consultant_id, 0), now) for c in consultants]


@router.get(
    "/consultants/{consultant_id}",
    response_model=ConsultantOut,
    responses=NO_CONSULTANT | INVALID_REQUEST,
)
async def one_consultant(consultant_id: ConsultantId, actor: Staff, unit: Uow, clock: Now) -> Any:
    """A consultant sees their own profile; managers everyone of their dealerships."""
    async with unit:
        c = await unit.repo.consultant(actor.tenant_id, consultant_id)
    if (
        c is None
        or not actor.sees(c.dealership_id)
        or (not actor.is_manager and actor.subject != consultant_id)
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consultant in your dealerships")
    return await _view(unit, actor.tenant_id, consultant_id, clock.now())


async def _presence(
    consultant_id: str, clocked: bool | None, actor: Any, unit: Uow, clock: Now
) -> Any:
    try:
        await handlers.set_presence(unit, actor, consultant_id, clocked, clock.now())
    except handlers.NotFound as exc:
        raise not_found(exc) from exc
    return await _view(unit, actor.tenant_id, consultant_id, clock.now())


@router.post(
    "/consultants/{consultant_id}/clock-in",
    response_model=ConsultantOut,
    responses=NO_CONSULTANT | INVALID_REQUEST,
)
async def clock_in(consultant_id: ConsultantId, actor: Staff, unit: Uow, clock: Now) -> Any:
    """Present until clocked out: prospects waiting for them are assigned at once."""
    return await _presence(consultant_id, True, actor, unit, clock)


@router.post(
    "/consultants/{consultant_id}/clock-out",
    response_model=ConsultantOut,
    responses=NO_CONSULTANT | INVALID_REQUEST,
)
async def clock_out(consultant_id: ConsultantId, actor: Staff, unit: Uow, clock: Now) -> Any:
    return await _presence(consultant_id, False, actor, unit, clock)


@router.post(
    "/consultants/{consultant_id}/follow-schedule",
    response_model=ConsultantOut,
    responses=NO_CONSULTANT | INVALID_REQUEST,
)
async def follow_schedule(consultant_id: ConsultantId, actor: Staff, unit: Uow, clock: Now) -> Any:
    """Neither clocked in nor out: the working hours decide presence."""
    return await _presence(consultant_id, None, actor, unit, clock)


@router.get("/dealerships/{dealership_id}/routing", responses=NO_DEALERSHIP | INVALID_REQUEST)
async def get_routing(
    dealership_id: DealershipId,
    actor: Manager,
    unit: Uow,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,  # the column is an int4
) -> Any:
    """The routing in force (version 0: never configured, the defaults), or an older version."""
    if not actor.sees(dealership_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not one of your dealerships")
    async with unit:
        routing = await unit.repo.routing(actor.tenant_id, dealership_id, version)
    if routing is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no version {version}")
    return routing.to_json()


@router.put(
    "/dealerships/{dealership_id}/routing", responses=NO_DEALERSHIP | INVALID_REQUEST | WITH_BODY
)
async def put_routing(
    dealership_id: DealershipId, body: RoutingIn, actor: Manager, unit: Uow, clock: Now
) -> Any:
    """A new version of the rules: the first rule that matches a prospect names its pool and
    method; unmatched prospects go to the default pool."""
    config = body.model_dump(mode="json")
    try:
        Routing.from_json(config, 1)
    except ValueError as exc:
        raise invalid("rules", str(exc)) from exc
    try:
        routing = await handlers.put_routing(unit, actor, dealership_id, config, clock.now())
    except handlers.NotFound as exc:
        raise not_found(exc) from exc
    return routing.to_json()

"""Admin API: dealerships, lead sources, API keys, tenant settings. Staff role `admin` only;
every call acts on the token's own tenant."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status

from intake.adapters.repository import SourceRow
from intake.entrypoints.http.deps import uow
from intake.entrypoints.http.schemas import (
    DealershipIn,
    DealershipOut,
    KeyOut,
    SourceIn,
    SourceOut,
    SourceWithKey,
    TenantSettingsIO,
)
from intake.service_layer import sources
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.auth import StaffClaims
from shared.auth.http import require_staff
from shared.http import INVALID_REQUEST, STAFF_AUTH, UNREADABLE_BODY, ErrorOut, answer, missing

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=STAFF_AUTH)

_NAME_TAKEN: dict[int | str, dict[str, Any]] = {
    409: answer(ErrorOut, "the tenant has one with that name already")
}
_NO_SOURCE = missing("no such source in the tenant")


Admin = Annotated[StaffClaims, Depends(require_staff("admin"))]
Uow = Annotated[IntakeUnitOfWork, Depends(uow)]


def _source_out(source: SourceRow) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source.name,
        "kind": source.kind,
        "dealership_id": source.dealership_id,
        "cost_per_lead": source.cost_per_lead,
        "currency": source.currency,
        "active": source.active,
    }


@router.post(
    "/dealerships",
    status_code=status.HTTP_201_CREATED,
    response_model=DealershipOut,
    responses=_NAME_TAKEN | INVALID_REQUEST | UNREADABLE_BODY,
)
async def create_dealership(body: DealershipIn, claims: Admin, unit: Uow) -> Any:
    async with unit:
        try:
            return await sources.create_dealership(
                unit, claims.tenant, name=body.name, country=body.country, timezone=body.timezone
            )
        except sources.Conflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get("/dealerships", response_model=list[DealershipOut])
async def list_dealerships(claims: Admin, unit: Uow) -> Any:
    async with unit:
        return await sources.list_dealerships(unit, claims.tenant)


@router.post(
    "/sources",
    status_code=status.HTTP_201_CREATED,
    response_model=SourceWithKey,
    responses=missing("no such dealership in the tenant")
    | _NAME_TAKEN
    | INVALID_REQUEST
    | UNREADABLE_BODY,
)
async def create_source(body: SourceIn, claims: Admin, unit: Uow) -> Any:
    async with unit:
        try:
            source, key = await sources.create_source(
                unit,
                claims.tenant,
                dealership_id=body.dealership_id,
                name=body.name,
                kind=body.kind,
                cost_per_lead=body.cost_per_lead,
                currency=body.currency,
            )
        except sources.NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        except sources.Conflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return _source_out(source) | {"api_key": key.key}


@router.get("/sources", response_model=list[SourceOut])
async def list_sources(claims: Admin, unit: Uow) -> Any:
    async with unit:
        return [_source_out(s) for s in await unit.repo.sources(claims.tenant)]


@router.post(
    "/sources/{source_id}/rotate-key",
    response_model=KeyOut,
    responses=_NO_SOURCE | INVALID_REQUEST,
)
async def rotate_key(source_id: UUID, claims: Admin, unit: Uow, request: Request) -> Any:
    """A new key, shown once; the source's older keys stop working at once on this replica,
    and within `INTAKE_KEY_CACHE_SECONDS` on the others."""
    async with unit:
        try:
            key = await sources.rotate_key(unit, claims.tenant, source_id)
        except sources.NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    request.app.state.source_keys.forget(source_id)
    return {"api_key": key.key}


@router.post(
    "/sources/{source_id}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_NO_SOURCE | INVALID_REQUEST,
)
async def revoke(source_id: UUID, claims: Admin, unit: Uow, request: Request) -> None:
    """Every key of the source stops working (on other replicas within
    `INTAKE_KEY_CACHE_SECONDS`); rotate-key makes it active again."""
    async with unit:
        try:
            await sources.revoke_source(unit, claims.tenant, source_id)
        except sources.NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    request.app.state.source_keys.forget(source_id)


@router.get("/settings", response_model=TenantSettingsIO)
async def get_settings(claims: Admin, unit: Uow) -> Any:
    async with unit:
        return await sources.get_settings(unit, claims.tenant)


@router.put(
    "/settings", response_model=TenantSettingsIO, responses=INVALID_REQUEST | UNREADABLE_BODY
)
async def put_settings(body: TenantSettingsIO, claims: Admin, unit: Uow) -> Any:
    """De-duplication window and test-lead rules of the caller's dealer group."""
    async with unit:
        await sources.put_settings(
            unit,
            claims.tenant,
            dedup_window_days=body.dedup_window_days,
            test_rules=body.test_rules,
        )
    return body

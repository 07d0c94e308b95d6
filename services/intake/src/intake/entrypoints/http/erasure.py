"""Admin API: erase a person from the caller's dealer group (intake, then every service)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, Field, model_validator

from intake.domain import clean
from intake.entrypoints.http.deps import uow
from intake.service_layer import erasure
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.auth import StaffClaims
from shared.auth.http import require_staff
from shared.http import INVALID_REQUEST, STAFF_AUTH, UNAVAILABLE, UNREADABLE_BODY

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=STAFF_AUTH)

Admin = Annotated[StaffClaims, Depends(require_staff("admin"))]
Uow = Annotated[IntakeUnitOfWork, Depends(uow)]

_PHONE = re.compile(r"[0-9+().\-/ ]+")


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value) or not 6 <= sum(c.isdigit() for c in value) <= 15:
        raise ValueError("not a phone number: 6 to 15 digits, with + ( ) . - / or spaces")
    return value


class EraseIn(BaseModel):
    """Who to erase: an email, a phone, or both (typed as the person gave them)."""

    email: Annotated[
        str | None,
        Field(default=None, min_length=3, max_length=320),
        AfterValidator(lambda v: clean.refuse_controls(v) if v is not None else v),
    ] = None
    phone: Annotated[
        str | None,
        Field(default=None, min_length=6, max_length=40),
        AfterValidator(lambda v: _phone(v) if v is not None else v),
    ] = None

    @model_validator(mode="after")
    def _one_contact(self) -> EraseIn:
        if not self.email and not self.phone:
            raise ValueError("give an email, a phone or both")
        return self


class ErasedCounts(BaseModel):
    leads: int = Field(description="leads whose person was scrubbed")
    submissions: int = Field(description="enquiries received on those leads")
    raw_payloads: int = Field(description="payloads kept as received, blanked")
    bulk_lines: int = Field(description="lines of uploaded files, blanked")
    outbox_messages: int = Field(description="intake's own events about the leads, scrubbed")


class ErasedOut(BaseModel):
    erasure_id: UUID
    lead_ids: list[UUID] = Field(description="the leads erased; `person.erased` names them")
    counts: ErasedCounts


@router.post(
    "/persons/erase",
    response_model=ErasedOut,
    responses=INVALID_REQUEST | UNREADABLE_BODY | UNAVAILABLE,
)
async def erase_person(body: EraseIn, claims: Admin, unit: Uow, request: Request) -> Any:
    """Erase a person of the caller's dealer group, found by email or phone: intake scrubs its
    rows at once and publishes `person.erased`, on which every other service scrubs its own.
    Safe to repeat (nothing left: zero counts). A later lead of the person is a new one."""
    try:
        done = await erasure.erase_person(
            unit,
            claims.tenant,
            email=body.email,
            phone=body.phone,
            requested_by=claims.sub,
            now=request.app.state.clock.now(),
        )
    except erasure.NoContact as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", exc.field), "msg": str(exc), "input": None}]
        ) from exc
    return {
        "erasure_id": done.erasure_id,
        "lead_ids": list(done.lead_ids),
        "counts": vars(done.counts),
    }

"""Admin API of intake by e-mail: a source's addresses, and the messages it received with what
came of each (an unreadable one included), raw message on demand. Staff role `admin` only;
every call acts on the token's own tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError

from intake.adapters import email_repository as mails
from intake.entrypoints.http.deps import uow
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.auth import StaffClaims
from shared.auth.http import require_staff
from shared.http import INVALID_REQUEST, STAFF_AUTH, UNREADABLE_BODY, ErrorOut, answer, missing

router = APIRouter(prefix="/v1/admin/sources", tags=["admin"], responses=STAFF_AUTH)

Admin = Annotated[StaffClaims, Depends(require_staff("admin"))]
Uow = Annotated[IntakeUnitOfWork, Depends(uow)]
_NO_SOURCE = missing("no such source in the tenant")


class EmailAddressIn(BaseModel):
    address: str | None = Field(
        default=None, max_length=320, description="an address for this source; null: none"
    )

    @field_validator("address")
    @classmethod
    def _deliverable_form(cls, value: str | None) -> str | None:
        """The address normalised (lower-case domain), or a 422 naming the field."""
        if value is None:
            return None
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(str(exc)) from exc


class EmailAddressesOut(BaseModel):
    default: str = Field(description="`<source id>@<INTAKE_SMTP_DOMAIN>`, always taken")
    address: str | None = Field(description="the address an admin set, if any")


class EmailOutcome(BaseModel):
    submission_id: UUID
    outcome: str
    reason_code: str | None
    lead_id: UUID | None
    errors: list[dict[str, Any]]


class EmailOut(BaseModel):
    raw_payload_id: UUID
    message_id: str | None
    received_at: datetime
    status: str = Field(description="pending | processed | invalid | failed")
    error: str | None
    leads: list[EmailOutcome] = Field(description="none for a call notification")


def _addresses(request: Request, source_id: UUID, address: str | None) -> dict[str, Any]:
    domain = request.app.state.settings.smtp_domain
    return {"default": f"{source_id}@{domain}", "address": address}


@router.get(
    "/{source_id}/email",
    response_model=EmailAddressesOut,
    responses=_NO_SOURCE | INVALID_REQUEST,
)
async def get_addresses(source_id: UUID, claims: Admin, unit: Uow, request: Request) -> Any:
    async with unit:
        row = await mails.source_address(unit.repo.session, claims.tenant, source_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such source in the tenant")
    return _addresses(request, source_id, row.email_address)


@router.put(
    "/{source_id}/email",
    response_model=EmailAddressesOut,
    responses=_NO_SOURCE
    | INVALID_REQUEST
    | UNREADABLE_BODY
    | {409: answer(ErrorOut, "another source takes mail at that address")},
)
async def put_address(
    source_id: UUID, body: EmailAddressIn, claims: Admin, unit: Uow, request: Request
) -> Any:
    address = body.address
    async with unit:
        try:
            found = await mails.set_source_address(
                unit.repo.session, claims.tenant, source_id, address
            )
            await unit.commit()
        except IntegrityError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, "address taken") from exc
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such source in the tenant")
    return _addresses(request, source_id, address)


@router.get(
    "/{source_id}/emails", response_model=list[EmailOut], responses=_NO_SOURCE | INVALID_REQUEST
)
async def list_emails(
    source_id: UUID,
    claims: Admin,
    unit: Uow,
    status_: Annotated[
        Literal["pending", "processed", "invalid", "failed"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The source's latest messages and what came of each: an unreadable one is a rejected
    lead (`invalid.personal_data`, layout `unparsed`), read in full at `.../emails/{id}`."""
    async with unit:
        if await mails.source_address(unit.repo.session, claims.tenant, source_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such source in the tenant")
        rows = await mails.source_emails(
            unit.repo.session, claims.tenant, source_id, status=status_, limit=limit
        )
    out: dict[UUID, dict[str, Any]] = {}
    for r in rows:
        mail = out.setdefault(
            r.id,
            {
                "raw_payload_id": r.id,
                "message_id": r.message_id,
                "received_at": r.received_at,
                "status": r.status,
                "error": r.error,
                "leads": [],
            },
        )
        if r.submission_id is not None:
            mail["leads"].append(
                {
                    "submission_id": r.submission_id,
                    "outcome": r.outcome,
                    "reason_code": r.reason_code,
                    "lead_id": r.lead_id,
                    "errors": r.errors,
                }
            )
    return list(out.values())


@router.get(
    "/{source_id}/emails/{raw_payload_id}",
    response_class=Response,
    responses=_NO_SOURCE | INVALID_REQUEST | {200: {"content": {"message/rfc822": {}}}},
)
async def raw_email(source_id: UUID, raw_payload_id: UUID, claims: Admin, unit: Uow) -> Response:
    """The message as received, byte for byte."""
    async with unit:
        body = await mails.email_body(unit.repo.session, claims.tenant, source_id, raw_payload_id)
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such message for this source")
    return Response(body, media_type="message/rfc822")

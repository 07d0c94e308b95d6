"""Admin views: leads with their enquiries, warnings and raw payloads, and the reject log.

Staff role `admin` only; every query is scoped to the token's tenant, so another dealer
group's ids answer 404, exactly like ids that do not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from intake.adapters import lead_views
from intake.entrypoints.http.admin import Admin, Uow
from shared.http import INVALID_REQUEST, STAFF_AUTH, missing

router = APIRouter(prefix="/v1", tags=["lead views"], responses=STAFF_AUTH)

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
# Capped below PostgreSQL's bigint: a larger OFFSET is an error there, not an empty page.
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip (paging)")]
Since = Annotated[
    datetime | None, Query(description="received at or after this moment (UTC if no zone)")
]
SourceFilter = Annotated[UUID | None, Query(description="one lead source of the tenant")]


class WarningOut(BaseModel):
    field: str
    reason: str
    value: str | None = Field(default=None, description="the text as the source wrote it")


class ErrorItem(BaseModel):
    field: str
    reason: str


class LeadSummary(BaseModel):
    id: UUID
    dealership_id: UUID
    source_id: UUID
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    status: str
    source_lead_id: str | None
    received_at: datetime
    last_enquiry_at: datetime
    enquiry_count: int


class EnquiryOut(BaseModel):
    id: UUID = Field(description="the submission id answered when it was posted")
    outcome: Literal["ingested", "merged"]
    source_id: UUID
    received_at: datetime
    matched_on: list[str]
    vehicle: dict[str, Any] | None
    comments: str | None
    campaign: str | None
    raw_payload_id: UUID | None = Field(description="none for a row of a bulk upload")
    bulk_job_id: UUID | None


class RawPayloadOut(BaseModel):
    id: UUID
    format: str
    content_type: str | None
    received_at: datetime
    size: int = Field(description="bytes as received")
    truncated: bool = Field(description="`body` is only the start; GET /v1/raw-payloads/{id}")
    body: str = Field(description="decoded as text (BOM, else UTF-8, else cp1252)")


class RawPayloadFull(RawPayloadOut):
    source_id: UUID
    status: str
    error: str | None


class LeadView(LeadSummary):
    other_phones: list[str]
    vehicle: dict[str, Any] | None
    trade_ins: list[dict[str, Any]]
    comments: str | None
    consent: dict[str, Any]
    campaign: str | None
    channel: str | None
    lead_type: str | None
    provider: str | None
    extensions: dict[str, Any]
    requested_at: datetime | None
    status_changed_at: datetime | None
    warnings: list[WarningOut] = Field(
        description="what the normaliser dropped (a bad phone, a placeholder name), as written"
    )
    enquiries: list[EnquiryOut]
    raw_payloads: list[RawPayloadOut] = Field(
        description=f"the enquiries' payloads, the latest {lead_views.MAX_RAW_PAYLOADS}"
    )


class RejectionOut(BaseModel):
    id: UUID = Field(description="the submission id answered when it was posted")
    source_id: UUID
    source_name: str
    reason_code: str
    errors: list[ErrorItem]
    received_at: datetime
    raw_payload_id: UUID | None
    bulk_job_id: UUID | None


def _utc(since: datetime | None) -> datetime | None:
    if since is None:
        return None
    if since.utcoffset() is None:
        return since.replace(tzinfo=UTC)
    try:
        return since.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00+05:00" is before year 1 in UTC: no driver takes it
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["query", "since"], "msg": "out of range", "type": "value_error"}],
        ) from None


@router.get("/leads", response_model=list[LeadSummary], responses=INVALID_REQUEST)
async def list_leads(
    claims: Admin,
    unit: Uow,
    source: SourceFilter = None,
    status_: Annotated[
        Literal["open", "prospect", "closed"] | None,
        Query(
            alias="status",
            description="open: in first contact; prospect: qualified or reactivated, not "
            "closed since; closed: lost, won or dead",
        ),
    ] = None,
    since: Since = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """The tenant's leads, newest first."""
    async with unit:
        return await lead_views.leads(
            unit.session,
            claims.tenant,
            source_id=source,
            status=status_,
            since=_utc(since),
            limit=limit,
            offset=offset,
        )


@router.get(
    "/leads/{lead_id}",
    response_model=LeadView,
    responses=missing("no such lead in the tenant") | INVALID_REQUEST,
)
async def get_lead(lead_id: UUID, claims: Admin, unit: Uow) -> Any:
    """A lead as intake keeps it: its enquiries, its warnings and the payloads received."""
    async with unit:
        view = await lead_views.lead_view(unit.session, claims.tenant, lead_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such lead")
    return view


@router.get("/rejections", response_model=list[RejectionOut], responses=INVALID_REQUEST)
async def list_rejections(
    claims: Admin,
    unit: Uow,
    source: SourceFilter = None,
    since: Since = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Rejected leads per source with their reason, newest first: the log a dealer sends a
    provider to ask for credit. The payload as received is under `raw_payload_id`."""
    async with unit:
        return await lead_views.rejections(
            unit.session,
            claims.tenant,
            source_id=source,
            since=_utc(since),
            limit=limit,
            offset=offset,
        )


@router.get(
    "/raw-payloads/{raw_payload_id}",
    response_model=RawPayloadFull,
    responses=missing("no such payload in the tenant") | INVALID_REQUEST,
)
async def get_raw_payload(raw_payload_id: UUID, claims: Admin, unit: Uow) -> Any:
    """A payload as received (JSON or ADF, decoded as text), with what became of it."""
    async with unit:
        view = await lead_views.raw_payload_view(unit.session, claims.tenant, raw_payload_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such payload")
    return view

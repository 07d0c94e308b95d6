"""Bulk CSV upload (streamed) and its per-row report."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, ValidationError

from intake.adapters.csv_rows import ColumnMapping, CsvMappingError
from intake.entrypoints.http.deps import Source
from intake.entrypoints.http.schemas import FieldErrorOut
from intake.service_layer.bulk import BulkJobs, UploadTooLarge
from intake.service_layer.ingest import UnknownDealership
from shared.http import (
    INVALID_REQUEST,
    UNAVAILABLE,
    ErrorOut,
    FieldErrorsOut,
    InvalidRequestOut,
    answer,
    missing,
)

router = APIRouter(
    prefix="/v1/leads/bulk",
    tags=["bulk"],
    responses={401: answer(ErrorOut, "missing, wrong or revoked API key")},
)
_NO_JOB = missing("no such job for the source's tenant")


class JobOut(BaseModel):
    job_id: UUID
    status: str
    bytes: int
    rows_done: int = Field(description="data rows reported so far (not the header)")
    accepted: int
    merged: int
    rejected: int
    resent: int
    error: str | None
    report_url: str


class RowOut(BaseModel):
    row_number: int
    outcome: str
    lead_id: UUID | None
    reason_code: str | None
    errors: list[FieldErrorOut]


def _jobs(request: Request) -> BulkJobs:
    jobs: BulkJobs = request.app.state.bulk
    return jobs


def _job_out(job: dict[str, Any]) -> JobOut:
    return JobOut(
        job_id=job["id"],
        report_url=f"/v1/leads/bulk/{job['id']}/rows",
        **{
            k: job[k]
            for k in (
                "status",
                "bytes",
                "rows_done",
                "accepted",
                "merged",
                "rejected",
                "resent",
                "error",
            )
        },
    )


def _mapping_error(error: Any) -> dict[str, str]:
    """One error of the mapping as {"field", "reason"}: a CsvMappingError names its own field
    (`mapping.encoding`, `mapping.columns.email`), pydantic's others by their location."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, CsvMappingError):
        field = cause.field if cause.field in _MAPPING_OPTIONS else f"columns.{cause.field}"
        return {"field": f"mapping.{field}", "reason": cause.reason}
    where = ".".join(str(p) for p in error["loc"])
    return {"field": f"mapping.{where}" if where else "mapping", "reason": error["msg"]}


_MAPPING_OPTIONS = frozenset(ColumnMapping.model_fields)


def _mapping(raw: str) -> ColumnMapping:
    try:
        return ColumnMapping.model_validate_json(raw)
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[_mapping_error(e) for e in exc.errors()],
        ) from exc


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses={
        404: answer(ErrorOut, "dealership_id is not a dealership of the source's tenant"),
        413: answer(ErrorOut, "the file is over the size limit"),
        422: answer(
            FieldErrorsOut | InvalidRequestOut,
            "the mapping, or the file's header, does not fit, or is not valid (the fields "
            "named); or a parameter does not fit the route (FastAPI's validation body)",
        ),
        **UNAVAILABLE,
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def upload(
    request: Request,
    source: Source,
    mapping: Annotated[
        str,
        Query(
            description='JSON column mapping, e.g. {"columns": {"email": "E-mail", '
            '"phone": "Phone", "vehicle.make": "Make"}, "has_header": true}'
        ),
    ],
    dealership_id: Annotated[
        UUID | None,
        Query(description="the rows' dealership (one of the caller's), else the source's"),
    ] = None,
) -> Any:
    """Stream a CSV file (up to 1,000,000 rows). Answers at once with a job id; the rows are
    processed in the background and reported one by one at `report_url`. A row naming a
    dealership outside the caller's group is a rejected row."""
    column_mapping = _mapping(mapping)
    jobs = _jobs(request)
    settings = request.app.state.settings
    try:
        job_id = await jobs.upload(
            source,
            column_mapping,
            request.stream(),
            max_bytes=settings.max_bulk_bytes,
            dealership_id=dealership_id,
        )
    except CsvMappingError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"field": f"mapping.columns.{exc.field}", "reason": exc.reason}],
        ) from exc
    except UploadTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except UnknownDealership as exc:  # another tenant's, or none: the same answer
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such dealership") from exc
    job = await jobs.job(source.tenant_id, job_id)
    assert job is not None
    return _job_out(job)


@router.get("/{job_id}", response_model=JobOut, responses=_NO_JOB | INVALID_REQUEST)
async def get_job(request: Request, source: Source, job_id: UUID) -> Any:
    job = await _jobs(request).job(source.tenant_id, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
    return _job_out(job)


@router.get("/{job_id}/rows", response_model=list[RowOut], responses=_NO_JOB | INVALID_REQUEST)
async def get_rows(
    request: Request,
    source: Source,
    job_id: UUID,
    outcome: Literal["ingested", "merged", "rejected", "resent"] | None = None,
    # Capped below PostgreSQL's bigint (a larger number was a 500); no file has more rows.
    after: Annotated[int, Query(ge=0, le=10**12, description="row number to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    jobs = _jobs(request)
    if await jobs.job(source.tenant_id, job_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
    return await jobs.rows(source.tenant_id, job_id, outcome=outcome, after=after, limit=limit)

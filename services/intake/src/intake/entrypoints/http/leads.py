"""Ways in over HTTP for single leads: JSON and ADF XML. Each answers 202 with the lead id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, status
from fastapi.responses import JSONResponse

from intake.adapters.repository import SourceRow
from intake.domain.submission import LeadSubmission
from intake.entrypoints.http.deps import Source, receiver
from intake.entrypoints.http.schemas import (
    Accepted,
    AcceptedMany,
    LeadResult,
    Refused,
    errors_out,
)
from intake.service_layer.receive import Format, InvalidPayload, Received, Receiver
from shared.http import ErrorOut, InvalidRequestOut, answer, inline_schema, read_body

router = APIRouter(prefix="/v1/leads", tags=["leads"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="makes a resent lead a no-op (else the source's own lead id does)",
    ),
]
_REFUSED: dict[int | str, dict[str, Any]] = {
    401: answer(ErrorOut, "missing, wrong or revoked API key"),
    413: answer(ErrorOut, "body over the size limit"),
    422: answer(
        Refused | InvalidRequestOut,
        "the body cannot be read as a lead (`invalid_payload`, field errors) or the lead was "
        "rejected (`rejected`, with its reason code): both kept, under `raw_payload_id`; or a "
        "header does not fit the route (FastAPI's validation body)",
    ),
    503: answer(
        ErrorOut,
        "the database is unavailable: send it again after `Retry-After` seconds (if the payload "
        "was kept, it is processed once the database is back, and the resend is a no-op with "
        "the same Idempotency-Key)",
    ),
}


def _unprocessable(body: Refused) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json"), status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _receive(
    request: Request,
    source: SourceRow,
    receive: Receiver,
    fmt: Format,
    limit: int,
    idempotency_key: str | None,
) -> Received | JSONResponse:
    """Keep and process the body; an unreadable one answers 422 with its field errors."""
    body = await read_body(request, limit)
    try:
        return await receive.receive(
            source,
            fmt=fmt,
            body=body,
            content_type=request.headers.get("content-type"),
            idempotency_header=idempotency_key,
        )
    except InvalidPayload as exc:
        assert exc.raw_payload_id is not None  # every payload is kept before it is read
        return _unprocessable(
            Refused(
                error="invalid_payload",
                raw_payload_id=exc.raw_payload_id,
                errors=errors_out(exc.errors),
            )
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=_REFUSED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(LeadSubmission)}},
        }
    },
)
async def post_lead(
    request: Request,
    source: Source,
    receive: Annotated[Receiver, Depends(receiver)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """One lead as JSON. A rejected lead (no usable contact, a test lead) answers 422 with its
    reason code; it is kept and `lead.rejected` is published."""
    received = await _receive(
        request,
        source,
        receive,
        "json",
        request.app.state.settings.max_json_bytes,
        idempotency_key,
    )
    if isinstance(received, JSONResponse):
        return received
    raw_id = received.raw_payload_id
    [result] = received.results
    if result.outcome == "rejected":
        return _unprocessable(
            Refused(
                error="rejected",
                raw_payload_id=raw_id,
                reason_code=result.reason_code,
                errors=errors_out(result.errors),
            )
        )
    return Accepted(raw_payload_id=raw_id, **LeadResult.of(result).model_dump())


@router.post(
    "/adf",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedMany,
    responses=_REFUSED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
)
async def post_adf(
    request: Request,
    source: Source,
    receive: Annotated[Receiver, Depends(receiver)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """An ADF XML document with one or many prospects: one result per prospect. Answers 422
    only when no prospect was accepted."""
    received = await _receive(
        request,
        source,
        receive,
        "adf",
        request.app.state.settings.max_adf_bytes,
        idempotency_key,
    )
    if isinstance(received, JSONResponse):
        return received
    raw_id = received.raw_payload_id
    leads = [LeadResult.of(r) for r in received.results]
    if leads and all(r.outcome == "rejected" for r in leads):
        return _unprocessable(
            Refused(
                error="rejected",
                raw_payload_id=raw_id,
                reason_code=leads[0].reason_code,
                errors=leads[0].errors,
                leads=leads,
            )
        )
    return AcceptedMany(raw_payload_id=raw_id, leads=leads)

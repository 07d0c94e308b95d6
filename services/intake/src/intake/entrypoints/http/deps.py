"""Request-scoped pieces: the app's services, the calling source (bounded bodies:
`shared.http.read_body`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from intake.adapters.repository import SourceRow
from intake.service_layer import sources
from intake.service_layer.receive import Receiver
from intake.service_layer.unit_of_work import IntakeUnitOfWork


def new_uow(request: Request) -> IntakeUnitOfWork:
    unit: IntakeUnitOfWork = request.app.state.uow_factory()
    return unit


# Dependencies are async on purpose: FastAPI runs a plain `def` one in its thread pool.
async def uow(request: Request) -> IntakeUnitOfWork:
    return new_uow(request)


async def receiver(request: Request) -> Receiver:
    r: Receiver = request.app.state.receiver
    return r


# Declared as a security scheme (not a plain header) so the OpenAPI document says which
# routes need a source's key; a missing key is our own 401 below, not the scheme's 403.
_api_key = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="a lead source's API key (`fck_...`), shown once when the source is created",
)


async def calling_source(
    request: Request, x_api_key: Annotated[str | None, Security(_api_key)]
) -> SourceRow:
    """401 for a missing, unknown, wrong or revoked key. The key is never logged."""
    if not x_api_key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="X-Api-Key header is required")
    keys: sources.SourceKeys = request.app.state.source_keys
    source = await keys.authenticate(x_api_key)
    if source is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="invalid or revoked API key")
    return source


Source = Annotated[SourceRow, Depends(calling_source)]

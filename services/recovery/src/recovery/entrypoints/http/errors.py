"""How the domain's refusals and missing rows answer over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse

from recovery.entrypoints.http.schemas import Refusal
from recovery.service_layer.handlers import NotFound, Refused

REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "not found in your tenant and dealerships"},
    409: {"model": Refusal, "description": "the state refuses it: ended, or leased to another"},
    422: {"model": Refusal, "description": "a rule refused the input (the rule is named)"},
}


def refused(exc: Refused) -> JSONResponse:
    code = 422 if exc.rule.startswith("outcome.") else 409
    return JSONResponse(Refusal(rule=exc.rule, message=exc.message).model_dump(), code)


def not_found(exc: NotFound) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


def invalid(field: str, reason: str) -> HTTPException:
    """A 422 in FastAPI's own shape, naming the field."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["body", field], "msg": reason, "type": "value_error"}],
    )

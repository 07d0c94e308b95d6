"""How the domain's refusals and missing rows answer over HTTP, and the refusals each route
documents in its OpenAPI (`responses=`), with the bodies really sent."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse

from recovery.entrypoints.http.schemas import Refusal
from recovery.service_layer.handlers import NotFound, Refused
from shared.http import (
    INVALID_REQUEST,
    UNREADABLE_BODY,
    InvalidRequestOut,
    answer,
    missing,
    too_large,
)

Responses = dict[int | str, dict[str, Any]]

NO_RECOVERY = missing("no such follow-up in your dealerships")
STATE: Responses = {
    409: answer(
        Refusal, "the state refuses it: ended, or leased to another (`refused`, the rule named)"
    ),
}
RULE_OR_INVALID: Responses = {
    422: answer(
        Refusal | InvalidRequestOut,
        "a rule refused the input (`refused`, the rule named); or a parameter or the body does "
        "not fit the route (FastAPI's validation body, the field named)",
    ),
}
# A route with a JSON body: bytes that cannot be read, and a body over the limit (`limit_body`).
WITH_BODY: Responses = UNREADABLE_BODY | too_large("RECOVERY_MAX_BODY_BYTES")
__all__ = [
    "INVALID_REQUEST",
    "NO_RECOVERY",
    "RULE_OR_INVALID",
    "STATE",
    "WITH_BODY",
    "invalid",
    "not_found",
    "refused",
]


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

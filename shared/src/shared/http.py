"""HTTP pieces every service's FastAPI app shares: health routes, and the error bodies the
services answer with, as models for their OpenAPI documents (`responses=` of each route)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """The body of an `HTTPException` with a sentence: 401, 403, 404, 409, 413, and some 422."""

    detail: str = Field(description="what is wrong, for a person")


class ValidationIssueOut(BaseModel):
    """One problem FastAPI found in the request (pydantic's error, as FastAPI answers it)."""

    type: str = Field(description="pydantic's error type, e.g. missing, uuid_parsing")
    loc: list[str | int] = Field(description='where: ["body", "email"], ["query", "limit"]')
    msg: str
    input: Any = Field(default=None, description="the value refused")
    ctx: dict[str, Any] | None = Field(default=None, description="the rule's parameters")


class InvalidRequestOut(BaseModel):
    """422 from FastAPI itself: a path, query, header or body value does not fit the route."""

    detail: list[ValidationIssueOut]


class FieldReasonOut(BaseModel):
    field: str
    reason: str


class FieldErrorsOut(BaseModel):
    """422 naming the fields a route's own checks refused (e.g. a bulk upload's mapping)."""

    detail: list[FieldReasonOut]


class HealthOut(BaseModel):
    status: str


def answer(model: Any, description: str) -> dict[str, Any]:
    """One entry of a route's `responses=`."""
    return {"model": model, "description": description}


STAFF_AUTH: dict[int | str, dict[str, Any]] = {
    401: answer(
        ErrorOut, "no staff bearer token, or one that is invalid, expired or not for this audience"
    ),
    403: answer(ErrorOut, "the token's role may not use this route"),
}
INVALID_REQUEST: dict[int | str, dict[str, Any]] = {
    422: answer(InvalidRequestOut, "a parameter or the body does not fit the route"),
}

# For routes whose JSON body FastAPI parses: bytes that are not text at all answer 400 (bad JSON
# text is a 422 json_invalid).
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: answer(ErrorOut, "the body cannot be parsed (not UTF-8 text)"),
}


def missing(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: answer(ErrorOut, what)}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON Schema with its `$defs` written in place, for an OpenAPI `openapi_extra`
    request body: there a `#/$defs/...` reference would point at the document's root, where
    nothing is. Recursive models cannot be inlined and raise ValueError."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise ValueError(f"{model.__name__}: {name} is recursive")
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return resolve(defs[name], (*seen, name)) | resolve(rest, seen)
            return {k: resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    inlined: dict[str, Any] = resolve(schema, ())
    return inlined


def add_health_routes(app: FastAPI) -> None:
    """`/healthz` (the process answers) and `/readyz` (its database and broker answer).

    `/readyz` reads `app.state.runtime`, the service's `shared.runtime.Runtime`."""

    @app.get("/healthz", tags=["ops"], response_model=HealthOut)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=dict[str, str],
        responses={503: answer(dict[str, str], "the database or the broker is down")},
    )
    async def readyz(request: Request) -> Any:
        """`{"database": "ok", "broker": "ok"}`; 503 with the same keys when one is down."""
        checks = await request.app.state.runtime.health()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if ok else 503)

"""HTTP pieces every service's FastAPI app shares, and telling a database outage from a bug."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

log = logging.getLogger(__name__)

# SQLSTATEs that say "not now" rather than "not this statement": connection exceptions (08...),
# the server shutting down or starting (57P01-57P03), too many connections, out of resources.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "53400"})
# Serialization failure, deadlock detected, lock not available.
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (SQLAlchemy's `orig`, `raise ... from`)."""
    out: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or any(error is seen for seen in out):
            continue
        out.append(error)
        pending += [getattr(error, "orig", None), error.__cause__]
    return out


def _sqlstate(error: BaseException) -> str:
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else ""


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be reached now: down,
    restarting, the connection lost, the pool exhausted. Such an error is an outage to wait
    out, never a reason to mark a message or a row as failed."""
    for error in _causes(exc):
        if isinstance(error, OSError | TimeoutError | sqlalchemy.exc.TimeoutError):
            return True  # ConnectionRefusedError, a connect timeout, the pool's timeout
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        sqlstate = _sqlstate(error)
        if sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES:
            return True
    return False


def database_transient(exc: BaseException) -> bool:
    """An outage, or a transaction that lost a race (deadlock, serialization failure, lock
    not available): the same work succeeds when tried again later."""
    return database_unavailable(exc) or any(
        _sqlstate(error) in _CONFLICT_SQLSTATES for error in _causes(exc)
    )


RETRY_AFTER_SECONDS = 5


def add_outage_handler(app: FastAPI, retry_after: int = RETRY_AFTER_SECONDS) -> None:
    """A request that fails because the database is down (or lost a race: a deadlock, a
    serialization failure) answers 503 with `Retry-After`, not 500: the caller should send it
    again, and lead providers do on a 503. Any other error stays a 500."""

    async def unavailable(request: Request, exc: Exception) -> Response:
        if not database_transient(exc):
            raise exc  # a bug: the server error handler answers 500 and logs it
        log.warning("%s %s: database unavailable (%s)", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the database is unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": str(retry_after)},
        )

    # By class, so Starlette's exception middleware answers (and nothing re-raises after the
    # answer): SQLAlchemy's wrapped driver errors, a refused or timed-out connect, the pool's
    # timeout.
    for error in (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError, OSError):
        app.add_exception_handler(error, unavailable)


def add_health_routes(app: FastAPI) -> None:
    """`/healthz` (the process answers) and `/readyz` (its database and broker answer).

    `/readyz` reads `app.state.runtime`, the service's `shared.runtime.Runtime`."""

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> Any:
        checks = await request.app.state.runtime.health()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if ok else 503)

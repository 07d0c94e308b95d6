"""HTTP pieces every service's FastAPI app shares."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


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

"""The intake service as a separate process (`uv run forecourt-intake`), set up over its API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from bench.common.service import ServiceProcess
from shared.auth import issue_token
from shared.settings import CommonSettings


class IntakeProcess(ServiceProcess):
    SERVICE = "intake"
    ENV_PREFIX = "INTAKE"


@dataclass(frozen=True)
class Tenant:
    name: str
    dealership_id: str
    source_id: str
    api_key: str


async def create_tenant(base_url: str, jwt_secret: str, tenant: str) -> Tenant:
    """A dealership in Canada and a marketplace lead source, through the admin API."""
    settings = CommonSettings(jwt_secret=SecretStr(jwt_secret))
    token = issue_token(settings, subject="bench", role="admin", tenant=tenant)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        r = await client.post(
            "/v1/admin/dealerships",
            json={
                "name": f"bench-{uuid.uuid4().hex[:6]}",
                "country": "CA",
                "timezone": "America/Toronto",
            },
        )
        r.raise_for_status()
        dealership_id = str(r.json()["id"])
        body: dict[str, Any] = {
            "name": f"bench-{uuid.uuid4().hex[:6]}",
            "kind": "marketplace",
            "dealership_id": dealership_id,
            "cost_per_lead": "15.00",
            "currency": "CAD",
        }
        r = await client.post("/v1/admin/sources", json=body)
        r.raise_for_status()
        source = r.json()
    return Tenant(tenant, dealership_id, str(source["id"]), str(source["api_key"]))

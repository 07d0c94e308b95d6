"""Property-based API tests (schemathesis) from the committed OpenAPI documents, against intake,
crm-queue, assignment, recovery and metrics running as processes (tests/live.py): whatever the
document allows, and data just outside it, never gets a 5xx, and every answer conforms to the
document (status code, content type, headers, body schema).

Requests carry a valid admin token and source API key of a dealer group of their own (assignment
also a consultant's token, for the routes only consultants use); path ids are now random, now
ids that exist there (a consultant, a prospect, a follow-up), so the 2xx paths are reached too.
Examples per route are bounded (`FORECOURT_API_EXAMPLES`, default 12) to keep `make test` quick.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.testing.services import ServiceProcess
from tests.live import Downstream, Live, Tenant
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.processes

EXAMPLES = int(os.environ.get("FORECOURT_API_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ in the work tree; every run explores afresh
    suppress_health_check=list(HealthCheck),
)

intake_schema = schemathesis.openapi.from_path(REPO_ROOT / "docs/openapi/intake.json")
crm_schema = schemathesis.openapi.from_path(REPO_ROOT / "docs/openapi/crm-queue.json")
assignment_schema = schemathesis.openapi.from_path(REPO_ROOT / "docs/openapi/assignment.json")
recovery_schema = schemathesis.openapi.from_path(REPO_ROOT / "docs/openapi/recovery.json")
metrics_schema = schemathesis.openapi.from_path(REPO_ROOT / "docs/openapi/metrics.json")
CONSULTANT = "fuzz.consultant"

# Ids that exist in the fuzzing dealer group, filled in by the `world` fixture before any case
# is generated: path parameters take them half the time (else the generated value: a 404).
KNOWN: dict[str, str] = {}


def _known_ids(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    known = {k: KNOWN[k] for k in path_parameters if k in KNOWN}
    return st.sampled_from([path_parameters, path_parameters | known])


for _schema in (intake_schema, crm_schema, recovery_schema):
    _schema.hook("flatmap_path_parameters")(_known_ids)


class World:
    def __init__(self, live: Live, tenant: Tenant) -> None:
        self.live = live
        self.tenant = tenant
        admin = live.token(tenant.id, "admin")
        # Both on every call: staff routes read the bearer token, lead routes the key.
        self.headers = {"Authorization": f"Bearer {admin}", "X-Api-Key": tenant.api_key}
        consultant = live.token(tenant.id, "consultant", (tenant.dealership_id,), CONSULTANT)
        self.consultant = {"Authorization": f"Bearer {consultant}"}


async def _seed(live: Live, tenant: Tenant) -> None:
    """A lead in crm-queue's queue and a bulk job, so their routes have ids that answer 200."""
    async with httpx.AsyncClient(headers={"X-Api-Key": tenant.api_key}) as client:
        r = await client.post(
            f"{live.intake.base_url}/v1/leads",
            json={"first_name": "Fuzz", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
        )
        assert r.status_code == 202, r.text
        lead_id = r.json()["lead_id"]
        r = await client.post(
            f"{live.intake.base_url}/v1/leads/bulk",
            params={"mapping": '{"columns": {"email": "email"}}'},
            content=b"email\nbulk.fuzz@example.com\n",
        )
        assert r.status_code == 202, r.text
        KNOWN["job_id"] = r.json()["job_id"]
        admin = live.staff(tenant.id)
        async with asyncio.timeout(30):
            while (
                await client.get(f"{live.crm.base_url}/v1/leads/{lead_id}", headers=admin)
            ).status_code != 200:
                await asyncio.sleep(0.2)
    KNOWN.update(lead_id=lead_id, source_id=tenant.source_id, dealership_id=tenant.dealership_id)


async def _until(client: httpx.AsyncClient, url: str, **params: str) -> Any:
    """The body of `url` once it answers 200 with something (an event is on its way)."""
    async with asyncio.timeout(30):
        while True:
            r = await client.get(url, params=params)
            if r.status_code == 200 and r.json():
                return r.json()
            await asyncio.sleep(0.2)


async def _fresh_key(live: Live, tenant: Tenant, client: httpx.AsyncClient) -> str:
    """A new source's key: the fuzzing of intake's admin routes rotates and revokes the
    tenant's first one."""
    r = await client.post(
        f"{live.intake.base_url}/v1/admin/sources",
        json={
            "name": f"Seed {uuid.uuid4().hex[:6]}",
            "kind": "website",
            "dealership_id": tenant.dealership_id,
        },
    )
    assert r.status_code == 201, r.text
    key: str = r.json()["api_key"]
    return key


async def _lead_in_crm(live: Live, tenant: Tenant, client: httpx.AsyncClient) -> str:
    r = await client.post(
        f"{live.intake.base_url}/v1/leads",
        json={"first_name": "Fuzz", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
        headers={"X-Api-Key": await _fresh_key(live, tenant, client)},
    )
    assert r.status_code == 202, r.text
    lead_id: str = r.json()["lead_id"]
    await _until(client, f"{live.crm.base_url}/v1/leads/{lead_id}")
    r = await client.post(f"{live.crm.base_url}/v1/leads/{lead_id}/claim")
    assert r.status_code == 200, r.text
    return lead_id


async def _seed_downstream(live: Live, down: Downstream, tenant: Tenant) -> None:
    """A consultant on assignment's roster with a prospect (a lead qualified in crm-queue), and
    a follow-up in recovery (a lead lost there)."""
    async with httpx.AsyncClient(headers=live.staff(tenant.id), timeout=30) as client:
        r = await client.post(
            f"{down.assignment.base_url}/v1/consultants",
            json={"consultant_id": CONSULTANT, "dealership_id": tenant.dealership_id, "name": "F"},
        )
        assert r.status_code == 201, r.text
        r = await client.post(f"{down.assignment.base_url}/v1/consultants/{CONSULTANT}/clock-in")
        assert r.status_code == 200, r.text
        won = await _lead_in_crm(live, tenant, client)
        r = await client.post(
            f"{live.crm.base_url}/v1/leads/{won}/qualify", json={"outcome": "quotation.requested"}
        )
        assert r.status_code == 200, r.text
        await _until(client, f"{down.assignment.base_url}/v1/prospects/{won}")
        lost = await _lead_in_crm(live, tenant, client)
        r = await client.post(
            f"{live.crm.base_url}/v1/leads/{lost}/attempts",
            json={"channel": "call", "outcome": "reached"},
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{live.crm.base_url}/v1/leads/{lost}/lose",
            json={"reason_code": "no_interest.follow_up"},
        )
        assert r.status_code == 200, r.text
        [run] = await _until(client, f"{down.recovery.base_url}/v1/recovery", lead_id=lost)
    KNOWN.update(prospect_lead_id=won, recovery_id=run["recovery_id"], consultant_id=CONSULTANT)


@pytest.fixture(scope="module")
async def world(live: Live) -> World:
    tenant = await live.tenant(f"api-fuzz-{uuid.uuid4().hex[:6]}")
    await _seed(live, tenant)
    return World(live, tenant)


@pytest.fixture(scope="module")
async def downstream_world(world: World, downstream: Downstream) -> Downstream:
    if "recovery_id" not in KNOWN:
        await _seed_downstream(world.live, downstream, world.tenant)
    return downstream


@pytest.fixture(scope="module", autouse=True)
def _forget_known() -> Iterator[None]:
    yield
    KNOWN.clear()


@intake_schema.parametrize()
@BOUNDED
def test_intake_answers_as_documented(case: schemathesis.Case, world: World) -> None:
    case.call_and_validate(
        base_url=world.live.intake.base_url, headers=world.headers, checks=CHECKS, timeout=30
    )


@crm_schema.parametrize()
@BOUNDED
def test_crm_queue_answers_as_documented(case: schemathesis.Case, world: World) -> None:
    case.call_and_validate(
        base_url=world.live.crm.base_url, headers=world.headers, checks=CHECKS, timeout=30
    )


def _assignment_ids(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """assignment's `lead_id` is a prospect's: the lead qualified there, not crm-queue's."""
    if path_parameters and "lead_id" in path_parameters and "prospect_lead_id" in KNOWN:
        known = path_parameters | {"lead_id": KNOWN["prospect_lead_id"]}
        return st.sampled_from([path_parameters, known])
    return _known_ids(context, path_parameters)


assignment_schema.hook("flatmap_path_parameters")(_assignment_ids)


@assignment_schema.parametrize()
@BOUNDED
def test_assignment_answers_as_documented(
    case: schemathesis.Case, world: World, downstream_world: Downstream
) -> None:
    case.call_and_validate(
        base_url=downstream_world.assignment.base_url,
        headers=world.headers,
        checks=CHECKS,
        timeout=30,
    )


@assignment_schema.parametrize()
@BOUNDED
def test_assignment_answers_a_consultant_as_documented(
    case: schemathesis.Case, world: World, downstream_world: Downstream
) -> None:
    case.call_and_validate(
        base_url=downstream_world.assignment.base_url,
        headers=world.consultant,
        checks=CHECKS,
        timeout=30,
    )


@recovery_schema.parametrize()
@BOUNDED
def test_recovery_answers_as_documented(
    case: schemathesis.Case, world: World, downstream_world: Downstream
) -> None:
    case.call_and_validate(
        base_url=downstream_world.recovery.base_url,
        headers=world.headers,
        checks=CHECKS,
        timeout=30,
    )


@metrics_schema.parametrize()
@BOUNDED
def test_metrics_answers_as_documented(
    case: schemathesis.Case, world: World, metrics_service: ServiceProcess
) -> None:
    """The KPIs of the fuzzing dealer group (its seed lead counted, whatever else is not)."""
    case.call_and_validate(
        base_url=metrics_service.base_url, headers=world.headers, checks=CHECKS, timeout=30
    )

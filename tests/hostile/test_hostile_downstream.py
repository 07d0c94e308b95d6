"""Hostile input on every route of assignment, recovery and metrics (HTTP, and the events they
consume over AMQP), running as processes beside intake and crm-queue (tests/live.py).

The same rules as tests/hostile/test_hostile_input.py: each case gets its exact answer (a 4xx,
with the field it refuses when a 422, 413 for a body over the service's limit; over AMQP:
dead-lettered with its reason on its first delivery, no redelivery spent on it), never a 500 or
a hang; `/healthz` keeps answering promptly while it is handled; and the next good request of
another dealer group goes through. The victim's prospect, consultant and follow-up are reached
through the real path (intake, crm-queue qualifying or losing the lead).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aio_pika
import httpx
import pytest

from shared.testing.services import ServiceProcess
from tests.hostile.conftest import World
from tests.hostile.test_hostile_input import (
    SLOW_HEAD_LIMIT,
    TOKEN_KINDS,
    Sent,
    _dead_lettered,
    forged_token,
    raw_http,
    slow_head,
)
from tests.hostile.timing import (
    ANSWER_WITHIN,
    DEAD_LETTER_WITHIN,
    SLACK,
    Probe,
    Timing,
    check,
    record,
)
from tests.live import Downstream, Tenant

pytestmark = pytest.mark.processes

Service = Literal["assignment", "recovery", "metrics"]
VICTIM_SLA_HOURS = 7.0  # the victim's routing, which the attacker must neither see nor change
MALLORY = "mallory"  # the attacker's consultant
VICTOR = "victor"  # the victim's consultant


@dataclass
class Down:
    world: World
    services: dict[Service, ServiceProcess]
    clients: dict[Service, httpx.AsyncClient]
    victim_prospect: str  # a lead qualified in the victim's dealership: a prospect there
    victim_recovery: str  # a follow-up of a lead the victim lost
    attacker_prospect: str  # mallory's prospect
    attacker_recovery: str

    @property
    def attacker(self) -> Tenant:
        return self.world.attacker

    @property
    def victim(self) -> Tenant:
        return self.world.victim

    def admin(self, tenant: Tenant | None = None) -> dict[str, str]:
        return self.world.staff(tenant or self.attacker)

    def consultant(self) -> dict[str, str]:
        return self.world.staff(self.attacker, "consultant", MALLORY)

    async def get(self, service: Service, path: str, **params: Any) -> httpx.Response:
        return await self.clients[service].get(path, params=params, headers=self.admin())

    async def send(
        self, service: Service, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.clients[service].request(
            method,
            path,
            content=content,
            headers=headers | {"Content-Type": "application/json"},
        )

    def assignment(self, method: str, path: str, body: Any, consultant: bool = False) -> Any:
        headers = self.consultant() if consultant else self.admin()
        return self.send("assignment", method, path, body, headers)

    def recovery(self, method: str, path: str, body: Any) -> Any:
        return self.send("recovery", method, path, body, self.admin())


async def _until(client: httpx.AsyncClient, url: str, headers: dict[str, str], **q: str) -> Any:
    async with asyncio.timeout(60 * SLACK):
        while True:
            r = await client.get(url, params=q, headers=headers)
            if r.status_code == 200 and r.json():
                return r.json()
            await asyncio.sleep(0.2)


async def _lead_in_crm(world: World, tenant: Tenant) -> str:
    r = await world.lead(tenant, {"first_name": "Hos", "email": f"{uuid.uuid4().hex}@example.com"})
    assert r.status_code == 202, r.text
    lead_id: str = r.json()["lead_id"]
    admin = world.staff(tenant)
    await _until(world.crm, f"/v1/leads/{lead_id}", admin)
    r = await world.crm.post(f"/v1/leads/{lead_id}/claim", headers=admin)
    assert r.status_code == 200, r.text
    return lead_id


async def _seed(world: World, tenant: Tenant, down: Downstream, consultant: str) -> list[str]:
    """`consultant` on the roster (clocked in), a prospect (assigned to them) and a follow-up."""
    admin = world.staff(tenant)
    async with httpx.AsyncClient(base_url=down.assignment.base_url, timeout=30) as assignment:
        r = await assignment.post(
            "/v1/consultants",
            json={
                "consultant_id": consultant,
                "dealership_id": tenant.dealership_id,
                "name": consultant,
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        r = await assignment.post(f"/v1/consultants/{consultant}/clock-in", headers=admin)
        assert r.status_code == 200, r.text
        won = await _lead_in_crm(world, tenant)
        r = await world.crm.post(
            f"/v1/leads/{won}/qualify", json={"outcome": "quotation.requested"}, headers=admin
        )
        assert r.status_code == 200, r.text
        await _until(assignment, f"/v1/prospects/{won}", admin)
        r = await assignment.put(
            f"/v1/dealerships/{tenant.dealership_id}/routing",
            json={"normal_sla_hours": VICTIM_SLA_HOURS if consultant == VICTOR else 48},
            headers=admin,
        )
        assert r.status_code == 200, r.text
    lost = await _lead_in_crm(world, tenant)
    r = await world.crm.post(
        f"/v1/leads/{lost}/attempts", json={"channel": "call", "outcome": "reached"}, headers=admin
    )
    assert r.status_code == 201, r.text
    r = await world.crm.post(
        f"/v1/leads/{lost}/lose", json={"reason_code": "no_interest.follow_up"}, headers=admin
    )
    assert r.status_code == 200, r.text
    async with httpx.AsyncClient(base_url=down.recovery.base_url, timeout=30) as recovery:
        [run] = await _until(recovery, "/v1/recovery", admin, lead_id=lost)
    return [won, run["recovery_id"]]


@pytest.fixture(scope="module")
async def down(
    world: World, downstream: Downstream, metrics_service: ServiceProcess
) -> AsyncIterator[Down]:
    victim_prospect, victim_recovery = await _seed(world, world.victim, downstream, VICTOR)
    attacker_prospect, attacker_recovery = await _seed(world, world.attacker, downstream, MALLORY)
    services: dict[Service, ServiceProcess] = {
        "assignment": downstream.assignment,
        "recovery": downstream.recovery,
        "metrics": metrics_service,
    }
    async with (
        httpx.AsyncClient(base_url=downstream.assignment.base_url, timeout=30) as assignment,
        httpx.AsyncClient(base_url=downstream.recovery.base_url, timeout=30) as recovery,
        httpx.AsyncClient(base_url=metrics_service.base_url, timeout=30) as metrics,
    ):
        yield Down(
            world,
            services,
            {"assignment": assignment, "recovery": recovery, "metrics": metrics},
            victim_prospect,
            victim_recovery,
            attacker_prospect,
            attacker_recovery,
        )


# -- raw sockets ---------------------------------------------------------------------------------


async def _oversized_headers(d: Down, service: Service) -> int:
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 8000) for i in range(16))  # 128 KB
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + padding + b"\r\n"
    return await raw_http(d.services[service].base_url, head, wait=ANSWER_WITHIN)


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


OVER_THE_LIMIT = 2_000_000  # bytes: past the services' body limit (1 MB by default)
# Bodies over it made of many small values, written once here: encoding them in a case holds
# the test process's GIL, and with it the /healthz probe's thread, for a good part of a second.
LONG_POOL = (
    b'{"rules": [{"name": "r", "pool": ['
    + b",".join([b'"' + b"c" * 99 + b'"'] * (OVER_THE_LIMIT // 100))
    + b"]}]}"
)
MANY_DAYS = b'{"default": [' + b"3, " * (OVER_THE_LIMIT // 3) + b"3]}"


def _streamed(d: Down, service: Service, method: str, path: str, body: Any) -> Any:
    """`body` as JSON sent in pieces without a Content-Length (chunked): the service can only
    count what arrives."""
    data = json.dumps(body).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 65_536):
            yield data[start : start + 65_536]

    return d.clients[service].request(
        method,
        path,
        content=pieces(),
        headers=d.admin() | {"Content-Type": "application/json"},
    )


async def _declared_too_large(d: Down, service: Service, method: str, path: str) -> int:
    """A head declaring a 1 GB body, and no body: refused at once, not waited for."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {d.admin()['Authorization']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    ).encode()
    return await raw_http(d.services[service].base_url, head, wait=ANSWER_WITHIN)


def _refusal(body: Any) -> bool:
    """A 413's body: the services' error body (`{"detail": ...}`), as documented."""
    return isinstance(body, dict) and bool(body.get("detail"))


# -- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    send: Callable[[Down], Awaitable[Sent]]
    expect: int
    service: Service
    field: str | None = None  # a 422 names it (FastAPI's loc, or a refusal's field)
    within: float = ANSWER_WITHIN
    # On the answer's body: nothing of the victim's in a 200, the documented body of a 413.
    check: Callable[[Any], bool] | None = None


def _consultant(**changes: Any) -> dict[str, Any]:
    body = {"consultant_id": f"c{uuid.uuid4().hex[:8]}", "name": "Carl"}
    return body | changes


def _new_consultant(d: Down, **changes: Any) -> Awaitable[httpx.Response]:
    body = _consultant(dealership_id=d.attacker.dealership_id) | changes
    return d.assignment("POST", "/v1/consultants", body)  # type: ignore[no-any-return]


def _routing(d: Down, body: Any, dealership: str | None = None) -> Awaitable[httpx.Response]:
    path = f"/v1/dealerships/{dealership or d.attacker.dealership_id}/routing"
    return d.assignment("PUT", path, body)  # type: ignore[no-any-return]


def _prospect_act(d: Down, action: str, body: Any, lead: str | None = None) -> Any:
    """As mallory (the consultant), or an admin for a reassignment."""
    path = f"/v1/prospects/{lead or d.attacker_prospect}/{action}"
    return d.assignment("POST", path, body, consultant=action != "reassign")


async def _victims_routing_after(d: Down, attack: Awaitable[httpx.Response]) -> httpx.Response:
    """The victim's routing (as the victim sees it) after the attacker's request."""
    r = await attack
    assert r.status_code == 200, r.text  # the attacker's own group's row of that id
    path = f"/v1/dealerships/{d.victim.dealership_id}/routing"
    return await d.clients["assignment"].get(path, headers=d.admin(d.victim))


def _outcome(d: Down, body: Any, run: str | None = None) -> Any:
    return d.recovery("POST", f"/v1/recovery/{run or d.attacker_recovery}/outcome", body)


def _kpi(d: Down, route: str = "funnel", headers: dict[str, str] | None = None, **q: Any) -> Any:
    return d.clients["metrics"].get(f"/v1/kpis/{route}", params=q, headers=headers or d.admin())


LONG = "x" * 100_000
WIN = {"vehicle": {"make": "Volvo"}, "price": "41000.00", "currency": "CAD"}
FAR_FUTURE = "99999-01-01T00:00:00Z"

HTTP_CASES: dict[str, Case] = {
    # -- assignment: the roster -----------------------------------------------------------------
    "asg-nul-in-consultant-name": Case(
        lambda d: _new_consultant(d, name="Carl\x00"), 422, "assignment", "name"
    ),
    "asg-control-chars-in-consultant-name": Case(
        lambda d: _new_consultant(d, name="\x1b]0;pwned\x07"), 422, "assignment", "name"
    ),
    "asg-over-long-consultant-name": Case(
        lambda d: _new_consultant(d, name=LONG), 422, "assignment", "name"
    ),
    "asg-nul-in-consultant-id": Case(
        lambda d: _new_consultant(d, consultant_id="c\x00"), 422, "assignment", "consultant_id"
    ),
    "asg-nul-in-brand": Case(
        lambda d: _new_consultant(d, brands=["Vol\x00vo"]), 422, "assignment", "brands"
    ),
    "asg-10000-brands": Case(
        lambda d: _new_consultant(d, brands=[f"b{i}" for i in range(10_000)]),
        422,
        "assignment",
        "brands",
    ),
    "asg-10000-absences": Case(
        lambda d: _new_consultant(
            d,
            absences=[{"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}] * 10_000,
        ),
        422,
        "assignment",
        "absences",
    ),
    "asg-absence-beyond-any-calendar": Case(
        lambda d: _new_consultant(
            d, absences=[{"start": "2026-01-01T00:00:00Z", "end": FAR_FUTURE}]
        ),
        422,
        "assignment",
        "end",
    ),
    "asg-cap-wrong-type": Case(lambda d: _new_consultant(d, cap="lots"), 422, "assignment", "cap"),
    "asg-cap-overflow": Case(lambda d: _new_consultant(d, cap=10**30), 422, "assignment", "cap"),
    "asg-unknown-time-zone": Case(
        lambda d: _new_consultant(d, hours={"timezone": "Mars/Olympus"}),
        422,
        "assignment",
        "timezone",
    ),
    "asg-nul-in-time-zone": Case(
        lambda d: _new_consultant(d, hours={"timezone": "UTC\x00"}), 422, "assignment", "timezone"
    ),
    "asg-consultant-body-not-json": Case(
        lambda d: d.assignment("POST", "/v1/consultants", b"\xff\xfe{nope"), 400, "assignment"
    ),
    "asg-consultant-body-deeply-nested": Case(
        lambda d: d.assignment("POST", "/v1/consultants", _deep(100_000)), 400, "assignment"
    ),
    "asg-oversize-body": Case(
        lambda d: _new_consultant(d, name="n" * 5_000_000), 413, "assignment", check=_refusal
    ),
    "asg-oversize-routing-body": Case(
        lambda d: _routing(d, LONG_POOL), 413, "assignment", check=_refusal
    ),
    "asg-oversize-body-streamed": Case(
        lambda d: _streamed(
            d,
            "assignment",
            "POST",
            f"/v1/prospects/{d.attacker_prospect}/activities",
            {"kind": "note", "note": "n" * OVER_THE_LIMIT},
        ),
        413,
        "assignment",
        check=_refusal,
    ),
    "asg-oversize-body-declared": Case(
        lambda d: _declared_too_large(d, "assignment", "POST", "/v1/consultants"), 413, "assignment"
    ),
    "asg-consultant-body-a-list": Case(
        lambda d: d.assignment("POST", "/v1/consultants", [1, 2, 3]), 422, "assignment"
    ),
    "asg-read-another-groups-consultant": Case(
        lambda d: d.get("assignment", f"/v1/consultants/{VICTOR}"), 404, "assignment"
    ),
    "asg-change-another-groups-consultant": Case(
        lambda d: d.assignment(
            "PUT",
            f"/v1/consultants/{VICTOR}",
            {"dealership_id": d.victim.dealership_id, "name": "hijacked"},
        ),
        404,
        "assignment",
    ),
    **{
        f"asg-{action}-another-groups-consultant": Case(
            lambda d, action=action: d.assignment(
                "POST", f"/v1/consultants/{VICTOR}/{action}", None
            ),
            404,
            "assignment",
        )
        for action in ("clock-in", "clock-out", "follow-schedule")
    },
    "asg-nul-in-consultant-path": Case(
        lambda d: d.get("assignment", "/v1/consultants/c%00x"), 422, "assignment", "consultant_id"
    ),
    "asg-nul-in-consultants-filter": Case(
        lambda d: d.get("assignment", "/v1/consultants", dealership_id="d\x00"),
        422,
        "assignment",
        "dealership_id",
    ),
    # -- assignment: routing ----------------------------------------------------------------------
    "asg-routing-10000-rules": Case(
        lambda d: _routing(d, {"rules": [{"name": f"r{i}"} for i in range(10_000)]}),
        422,
        "assignment",
        "rules",
    ),
    "asg-routing-nul-in-rule-name": Case(
        lambda d: _routing(d, {"rules": [{"name": "r\x00"}]}), 422, "assignment", "name"
    ),
    "asg-routing-10000-sources-in-a-rule": Case(
        lambda d: _routing(d, {"rules": [{"name": "r", "match": {"sources": ["s"] * 10_000}}]}),
        422,
        "assignment",
        "sources",
    ),
    "asg-routing-sla-beyond-any-calendar": Case(
        lambda d: _routing(d, {"normal_sla_hours": 1e308}), 422, "assignment", "normal_sla_hours"
    ),
    "asg-routing-sla-wrong-type": Case(
        lambda d: _routing(d, {"normal_sla_hours": "soon"}), 422, "assignment", "normal_sla_hours"
    ),
    "asg-routing-deeply-nested": Case(lambda d: _routing(d, _deep(100_000)), 400, "assignment"),
    # Dealership ids are the tenant's own namespace in assignment: another group's id names a
    # dealership of the caller's group, so the victim's routing is neither seen nor changed.
    "asg-set-another-groups-routing": Case(
        lambda d: _victims_routing_after(
            d, _routing(d, {"normal_sla_hours": 1}, d.victim.dealership_id)
        ),
        200,
        "assignment",
        check=lambda body: body["normal_sla_hours"] == VICTIM_SLA_HOURS,
    ),
    "asg-read-another-groups-routing": Case(
        lambda d: d.get("assignment", f"/v1/dealerships/{d.victim.dealership_id}/routing"),
        200,
        "assignment",
        check=lambda body: body["normal_sla_hours"] != VICTIM_SLA_HOURS,
    ),
    "asg-routing-version-overflow": Case(
        lambda d: d.get(
            "assignment",
            f"/v1/dealerships/{d.attacker.dealership_id}/routing",
            version=10**30,
        ),
        422,
        "assignment",
        "version",
    ),
    # -- assignment: prospects ------------------------------------------------------------------
    "asg-read-another-groups-prospect": Case(
        lambda d: d.get("assignment", f"/v1/prospects/{d.victim_prospect}"), 404, "assignment"
    ),
    **{
        f"asg-{action}-another-groups-prospect": Case(
            lambda d, action=action, body=body: _prospect_act(d, action, body, d.victim_prospect),
            404,
            "assignment",
        )
        for action, body in (
            ("claim", None),
            ("activities", {"kind": "call"}),
            ("win", WIN),
            ("lose", {"reason_code": "prospect.price"}),
            ("reassign", {"consultant_id": MALLORY}),
        )
    },
    "asg-nul-in-activity-note": Case(
        lambda d: _prospect_act(d, "activities", {"kind": "note", "note": "hi\x00"}),
        422,
        "assignment",
        "note",
    ),
    "asg-over-long-activity-note": Case(
        lambda d: _prospect_act(d, "activities", {"kind": "note", "note": LONG}),
        422,
        "assignment",
        "note",
    ),
    "asg-activity-beyond-any-calendar": Case(
        lambda d: _prospect_act(d, "activities", {"kind": "call", "at": FAR_FUTURE}),
        422,
        "assignment",
        "at",
    ),
    "asg-activity-follow-up-wrong-type": Case(
        lambda d: _prospect_act(d, "activities", {"kind": "call", "next_follow_up_at": "soon"}),
        422,
        "assignment",
        "next_follow_up_at",
    ),
    "asg-win-price-overflow": Case(
        lambda d: _prospect_act(d, "win", WIN | {"price": "1e400"}), 422, "assignment", "price"
    ),
    "asg-win-nul-in-model": Case(
        lambda d: _prospect_act(d, "win", WIN | {"vehicle": {"model": "X\x00"}}),
        422,
        "assignment",
        "model",
    ),
    "asg-lose-nul-in-competitor": Case(
        lambda d: _prospect_act(
            d,
            "lose",
            {"reason_code": "bought_elsewhere.other_brand", "competitor_dealer": "Evil\x00"},
        ),
        422,
        "assignment",
        "competitor_dealer",
    ),
    "asg-lose-unknown-reason": Case(
        lambda d: _prospect_act(d, "lose", {"reason_code": "because"}),
        422,
        "assignment",
        "reason_code",
    ),
    "asg-lose-postponed-beyond-any-calendar": Case(
        lambda d: _prospect_act(
            d, "lose", {"reason_code": "prospect.postponed", "postponed_until": "99999-12-31"}
        ),
        422,
        "assignment",
        "postponed_until",
    ),
    "asg-reassign-nul-in-consultant": Case(
        lambda d: _prospect_act(d, "reassign", {"consultant_id": "m\x00"}),
        422,
        "assignment",
        "consultant_id",
    ),
    "asg-prospects-offset-overflow": Case(
        lambda d: d.get("assignment", "/v1/prospects", offset=10**30),
        422,
        "assignment",
        "offset",
    ),
    "asg-prospects-limit-huge": Case(
        lambda d: d.get("assignment", "/v1/prospects", limit=10**9), 422, "assignment", "limit"
    ),
    "asg-nul-in-prospects-filter": Case(
        lambda d: d.get("assignment", "/v1/prospects", consultant_id="m\x00"),
        422,
        "assignment",
        "consultant_id",
    ),
    "asg-prospect-id-not-a-uuid": Case(
        lambda d: d.get("assignment", "/v1/prospects/not-a-uuid%00"),
        422,
        "assignment",
        "lead_id",
    ),
    # -- recovery ------------------------------------------------------------------------------
    "rec-nul-in-outcome-note": Case(
        lambda d: _outcome(d, {"outcome": "no_answer", "note": "rang\x00"}),
        422,
        "recovery",
        "note",
    ),
    "rec-over-long-outcome-note": Case(
        lambda d: _outcome(d, {"outcome": "no_answer", "note": LONG}), 422, "recovery", "note"
    ),
    "rec-control-chars-in-dealer": Case(
        lambda d: _outcome(
            d, {"outcome": "bought_elsewhere", "same_brand": True, "dealer": "\x1b[31mX"}
        ),
        422,
        "recovery",
        "dealer",
    ),
    "rec-outcome-wrong-type": Case(
        lambda d: _outcome(d, {"outcome": 5}), 422, "recovery", "outcome"
    ),
    "rec-outcome-body-deeply-nested": Case(lambda d: _outcome(d, _deep(100_000)), 400, "recovery"),
    "rec-oversize-body": Case(
        lambda d: _outcome(d, {"outcome": "no_answer", "note": "n" * 5_000_000}),
        413,
        "recovery",
        check=_refusal,
    ),
    "rec-oversize-cadences-body": Case(
        lambda d: d.recovery("PUT", "/v1/recovery/cadences", MANY_DAYS),
        413,
        "recovery",
        check=_refusal,
    ),
    "rec-oversize-body-streamed": Case(
        lambda d: _streamed(
            d,
            "recovery",
            "POST",
            f"/v1/recovery/{d.attacker_recovery}/outcome",
            {"outcome": "no_answer", "note": "n" * OVER_THE_LIMIT},
        ),
        413,
        "recovery",
        check=_refusal,
    ),
    "rec-oversize-body-declared": Case(
        lambda d: _declared_too_large(
            d, "recovery", "POST", f"/v1/recovery/{d.attacker_recovery}/outcome"
        ),
        413,
        "recovery",
    ),
    "rec-outcome-body-not-json": Case(lambda d: _outcome(d, b"\xff\xfe{nope"), 400, "recovery"),
    "rec-cadences-10000-days": Case(
        lambda d: d.recovery("PUT", "/v1/recovery/cadences", {"default": list(range(1, 10_001))}),
        422,
        "recovery",
        "default",
    ),
    "rec-cadences-day-overflow": Case(
        lambda d: d.recovery("PUT", "/v1/recovery/cadences", {"default": [3, 10**30]}),
        422,
        "recovery",
        "default",
    ),
    "rec-cadences-unknown-reason": Case(
        lambda d: d.recovery("PUT", "/v1/recovery/cadences", {"reasons": {"x\x00": [3]}}),
        422,
        "recovery",
        "reasons",
    ),
    "rec-read-another-groups-recovery": Case(
        lambda d: d.get("recovery", f"/v1/recovery/{d.victim_recovery}"), 404, "recovery"
    ),
    "rec-claim-another-groups-recovery": Case(
        lambda d: d.recovery("POST", f"/v1/recovery/{d.victim_recovery}/claim", None),
        404,
        "recovery",
    ),
    "rec-outcome-of-another-groups-recovery": Case(
        lambda d: _outcome(d, {"outcome": "dead"}, d.victim_recovery), 404, "recovery"
    ),
    "rec-list-offset-overflow": Case(
        lambda d: d.get("recovery", "/v1/recovery", offset=10**30), 422, "recovery", "offset"
    ),
    "rec-list-lead-id-not-a-uuid": Case(
        lambda d: d.get("recovery", "/v1/recovery", lead_id="x\x00"), 422, "recovery", "lead_id"
    ),
    "rec-due-nul-in-dealership": Case(
        lambda d: d.get("recovery", "/v1/recovery/due", dealership_id="d\x00"),
        422,
        "recovery",
        "dealership_id",
    ),
    "rec-due-limit-huge": Case(
        lambda d: d.get("recovery", "/v1/recovery/due", limit=10**30), 422, "recovery", "limit"
    ),
    # -- metrics -------------------------------------------------------------------------------
    "met-nul-in-campaign": Case(
        lambda d: _kpi(d, campaign="spring\x00"), 422, "metrics", "campaign"
    ),
    "met-over-long-campaign": Case(
        lambda d: _kpi(d, campaign="c" * 1000), 422, "metrics", "campaign"
    ),
    "met-nul-in-source": Case(lambda d: _kpi(d, source="s\x00"), 422, "metrics", "source"),
    "met-unknown-time-zone": Case(lambda d: _kpi(d, tz="Mars/Olympus"), 422, "metrics", "tz"),
    "met-nul-in-time-zone": Case(lambda d: _kpi(d, tz="UTC\x00"), 422, "metrics", "tz"),
    "met-day-not-a-date": Case(
        lambda d: _kpi(d, period="day", on="2026-13-45"), 422, "metrics", "on"
    ),
    "met-last-day-of-any-calendar": Case(
        lambda d: _kpi(d, period="day", on="9999-12-31"), 422, "metrics", "on"
    ),
    "met-first-day-of-any-calendar": Case(
        lambda d: _kpi(
            d, period="range", tz="Pacific/Kiritimati", **{"from": "0001-01-01", "to": "0001-01-01"}
        ),
        422,
        "metrics",
        "from",
    ),
    "met-range-over-every-year": Case(
        lambda d: _kpi(d, period="range", **{"from": "0001-01-02", "to": "9999-12-30"}),
        422,
        "metrics",
        "to",
    ),
    "met-unknown-period": Case(lambda d: _kpi(d, period="forever"), 422, "metrics", "period"),
    "met-persistence-min-attempts-overflow": Case(
        lambda d: _kpi(d, "persistence", min_attempts=10**30), 422, "metrics", "min_attempts"
    ),
    "met-consultants-limit-huge": Case(
        lambda d: _kpi(d, "consultants", limit=10**9), 422, "metrics", "limit"
    ),
    "met-credits-month-beyond-any-calendar": Case(
        lambda d: _kpi(d, "source-credits", month="9999-12"), 422, "metrics", "month"
    ),
    "met-credits-month-before-any-calendar": Case(
        lambda d: _kpi(d, "source-credits", month="0001-01", tz="Pacific/Kiritimati"),
        422,
        "metrics",
        "month",
    ),
    "met-credits-month-zero": Case(
        lambda d: _kpi(d, "source-credits", month="2026-00"), 422, "metrics", "month"
    ),
    "met-another-dealership-of-the-group": Case(
        lambda d: _kpi(
            d,
            headers=d.world.staff(d.attacker, "manager"),
            dealership=d.victim.dealership_id,
        ),
        404,
        "metrics",
    ),
    # -- forged staff tokens -------------------------------------------------------------------
    **{
        f"jwt-{kind}-{service}": Case(
            lambda d, kind=kind, service=service, path=path: d.clients[service].get(  # type: ignore[index]
                path, headers={"Authorization": f"Bearer {forged_token(d.world, kind)}"}
            ),
            401,
            service,  # type: ignore[arg-type]
        )
        for kind in TOKEN_KINDS
        for service, path in (
            ("assignment", "/v1/prospects"),
            ("recovery", "/v1/recovery"),
            ("metrics", "/v1/kpis/funnel"),
        )
    },
    **{
        f"jwt-agent-on-manager-route-{service}": Case(
            lambda d, service=service, path=path: d.clients[service].get(  # type: ignore[index]
                path, headers=d.world.staff(d.attacker, "agent")
            ),
            403,
            service,  # type: ignore[arg-type]
        )
        for service, path in (
            ("assignment", "/v1/prospects/unassigned"),
            ("metrics", "/v1/kpis/funnel"),
        )
    },
    # -- the HTTP server itself ----------------------------------------------------------------
    **{
        f"http-oversized-headers-{service}": Case(
            lambda d, service=service: _oversized_headers(d, service),  # type: ignore[arg-type]
            431,
            service,  # type: ignore[arg-type]
        )
        for service in ("assignment", "recovery", "metrics")
    },
    **{
        f"http-slow-head-{service}": Case(
            lambda d, service=service: slow_head(d.services[service].base_url),  # type: ignore[index]
            408,
            service,  # type: ignore[arg-type]
            within=SLOW_HEAD_LIMIT,
        )
        for service in ("assignment", "recovery", "metrics")
    },
}


def _names_field(body: Any, field: str) -> bool:
    """Whether a 422's body names `field`: FastAPI's `loc`, or a refusal's `field`."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        return any(
            field in [str(part) for part in item.get("loc", [])] or item.get("field") == field
            for item in detail
            if isinstance(item, dict)
        )
    return isinstance(body, dict) and body.get("field") == field


async def _good_request(d: Down, service: Service, timing: Timing) -> None:
    """The bystander's next good request on the same service goes through, at once."""
    path = {
        "assignment": "/v1/prospects",
        "recovery": "/v1/recovery",
        "metrics": "/v1/kpis/funnel",
    }[service]
    started = time.monotonic()
    r = await d.clients[service].get(path, headers=d.admin(d.world.bystander))
    assert r.status_code == 200, r.text
    timing.check_after(time.monotonic() - started)


@pytest.mark.parametrize("name", list(HTTP_CASES))
async def test_hostile_request_downstream(down: Down, name: str) -> None:
    case = HTTP_CASES[name]
    service = down.services[case.service]
    probe = await Probe.start(service.base_url)
    started = time.monotonic()
    try:
        sent = await case.send(down)
    finally:
        elapsed = time.monotonic() - started
        timing = record(name, elapsed, await probe.stop(), case.within)
    status = sent if isinstance(sent, int) else sent.status_code
    detail = sent if isinstance(sent, int) else sent.text[:500]
    assert status == case.expect, f"{status}: {detail}"
    if case.field is not None:
        assert isinstance(sent, httpx.Response)
        assert _names_field(sent.json(), case.field), f"{case.field} not named: {detail}"
    if case.check is not None:
        assert isinstance(sent, httpx.Response)
        assert case.check(sent.json()), detail
    check(timing)
    await _good_request(down, case.service, timing)


# -- AMQP: the events they consume ---------------------------------------------------------------


def _qualified_with(d: Down, person: dict[str, Any]) -> bytes:
    from tests.integration.assignment.conftest import qualified

    envelope = qualified(tenant=d.attacker.id, dealership=d.attacker.dealership_id)
    data = json.loads(envelope.to_json_bytes())
    data["payload"]["person"] |= person
    return json.dumps(data).encode()


def _qualified_enquiry_with(d: Down, enquiry: dict[str, Any]) -> bytes:
    data = json.loads(_qualified_with(d, {}))
    data["payload"]["enquiries"][0] |= enquiry
    return json.dumps(data).encode()


def _lost_with(d: Down, changes: dict[str, Any]) -> bytes:
    from tests.integration.recovery.conftest import lead_lost

    envelope = lead_lost(tenant=d.attacker.id, dealership=d.attacker.dealership_id)
    data = json.loads(envelope.to_json_bytes())
    data["payload"] |= changes
    return json.dumps(data).encode()


def _lost_enquiry_with(d: Down, enquiry: dict[str, Any]) -> bytes:
    data = json.loads(_lost_with(d, {}))
    data["payload"]["enquiries"][0] |= enquiry
    return json.dumps(data).encode()


@dataclass(frozen=True)
class Message:
    body: Callable[[Down], bytes]
    consumer: Service
    routing_key: str


AMQP_CASES: dict[str, Message] = {
    "amqp-assignment-not-json": Message(lambda d: b"{not json", "assignment", "lead.qualified.v1"),
    "amqp-assignment-nul-in-person": Message(
        lambda d: _qualified_with(d, {"first_name": "Ann\x00"}), "assignment", "lead.qualified.v1"
    ),
    "amqp-assignment-over-long-name": Message(
        lambda d: _qualified_with(d, {"first_name": "A" * 200_000}),
        "assignment",
        "lead.qualified.v1",
    ),
    # Text the event's contract lets through but the database refuses (a NUL in JSON text):
    # as poison as a malformed event, found only when the handler writes it.
    "amqp-assignment-nul-in-enquiry-comments": Message(
        lambda d: _qualified_enquiry_with(d, {"comments": "call me\x00"}),
        "assignment",
        "lead.qualified.v1",
    ),
    "amqp-recovery-not-json": Message(lambda d: b"\x00\xffnot json", "recovery", "lead.lost.v1"),
    "amqp-recovery-unknown-reason": Message(
        lambda d: _lost_with(d, {"reason_code": "because\x00"}), "recovery", "lead.lost.v1"
    ),
    "amqp-recovery-nul-in-enquiry-comments": Message(
        lambda d: _lost_enquiry_with(d, {"comments": "call me\x00"}), "recovery", "lead.lost.v1"
    ),
    # A loss on the calendar's last day: its first follow-up falls past any date there is.
    "amqp-recovery-lost-at-end-of-calendar": Message(
        lambda d: _lost_with(d, {"lost_at": "9999-12-31T23:00:00Z"}), "recovery", "lead.lost.v1"
    ),
    "amqp-recovery-deeply-nested": Message(
        lambda d: _lost_with(d, {"note": json.loads(_deep(50))}), "recovery", "lead.lost.v1"
    ),
    "amqp-metrics-not-json": Message(lambda d: b"{not json", "metrics", "lead.ingested.v1"),
    "amqp-metrics-nul-in-event": Message(
        lambda d: _lost_with(d, {"note": "x\x00"}), "metrics", "lead.lost.v1"
    ),
}


@pytest.mark.parametrize("name", list(AMQP_CASES))
async def test_hostile_event_downstream(down: Down, name: str) -> None:
    message = AMQP_CASES[name]
    topology = down.world.live.topology
    queue = topology.queue_name(message.consumer, message.routing_key)
    message_id = str(uuid.uuid4())
    # Written before the clock starts: the case times the service, not the test building it
    # (its first call imports a service's test helpers, seconds on a loaded machine).
    body = message.body(down)
    async with await down.world.amqp.channel(publisher_confirms=True) as channel:
        probe = await Probe.start(down.services[message.consumer].base_url)
        started = time.monotonic()
        try:
            # Straight to the consumer's queue: only it sees the hostile event.
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    message_id=message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue,
            )
            dead = await _dead_lettered(channel, down.world, queue, message_id)
        finally:
            elapsed = time.monotonic() - started
            timing = record(name, elapsed, await probe.stop(), DEAD_LETTER_WITHIN)
    headers = dead.headers or {}
    # Dead-lettered by its consumer, with the error, on its first delivery: not by the broker
    # at the delivery limit, nor after retries (a redelivery carries x-delivery-count).
    assert str(headers.get("x-forecourt-error", "")).strip(), f"no reason: {headers}"
    assert not headers.get("x-delivery-count"), f"redelivered first: {headers}"
    check(timing)
    await _good_request(down, message.consumer, timing)


def test_every_route_is_attacked() -> None:
    """Each downstream service has cases of every kind: input, tenants, tokens, the server."""
    for prefix, service in (("asg", "assignment"), ("rec", "recovery"), ("met", "metrics")):
        names = [n for n, c in HTTP_CASES.items() if c.service == service]
        assert any(n.startswith(prefix) and "another" in n for n in names), service
        assert any(n.startswith(prefix) and "nul" in n for n in names), service
        assert any(n.startswith("jwt-") for n in names), service
        assert {f"http-oversized-headers-{service}", f"http-slow-head-{service}"} <= set(names)
        assert any(m.consumer == service for m in AMQP_CASES.values()), service

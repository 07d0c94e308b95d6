"""Hostile input on every way in (HTTP JSON, ADF XML, CSV bulk, AMQP) and every route of
intake and crm-queue, running as processes (tests/live.py).

Each case must: answer a 4xx (over AMQP: be dead-lettered with its reason) within a second;
leave the service answering `/healthz` in under 200 ms while it is handled (no stalled worker);
keep the payload with its reason when one was taken in for reading; and let the next good
request of another dealer group through. Budgets scale with `FORECOURT_HOSTILE_SLACK` (a
factor, for slow CI machines).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aio_pika
import httpx
import jwt
import pytest

from tests.hostile.conftest import World
from tests.hostile.timing import (
    ANSWER_WITHIN,
    DEAD_LETTER_WITHIN,
    SLACK,
    Probe,
    Timing,
    check,
    record,
)
from tests.integration.crm_queue.conftest import ingested

pytestmark = pytest.mark.processes

SLOW_BODY_LIMIT = 20.0  # seconds: longest a server may wait for a trickled body before its 408
HEAD_TIMEOUT = 5.0  # FORECOURT_HTTP_HEADER_TIMEOUT_SECONDS of the test services
SLOW_HEAD_LIMIT = 6 * HEAD_TIMEOUT  # the test's patience with a trickled head: far beyond it

Sent = httpx.Response | int  # an HTTP answer, or the status read off a raw socket


def good_lead() -> dict[str, Any]:
    return {"first_name": "Bea", "last_name": "Good", "email": f"{uuid.uuid4().hex}@example.com"}


def adf_doc(name: str = "Ann", phones: str = "", body: str = "") -> str:
    return (
        '<?xml version="1.0"?><adf><prospect><customer><contact>'
        f'<name part="first">{name}</name><email>{uuid.uuid4().hex}@example.com</email>{phones}'
        f"</contact>{body}</customer></prospect></adf>"
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE adf [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    + ']><adf><prospect><customer><contact><name part="first">&l9;</name>'
    "<email>a@example.com</email></contact></customer></prospect></adf>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE adf [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<adf><prospect><customer><contact><name part="first">&xxe;</name>'
    "<email>a@example.com</email></contact></customer></prospect></adf>"
)
EXTERNAL_DTD = (
    '<?xml version="1.0"?><!DOCTYPE adf SYSTEM "http://127.0.0.1:9/adf.dtd">' + adf_doc()[21:]
)


# -- staff tokens an attacker can forge ----------------------------------------------------------


def forged_token(world: World, kind: str) -> str:
    common = world.live.common
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "mallory",
        "role": "admin",
        "tenant": world.attacker.id,
        "dealerships": [],
        "iat": now,
        "exp": now + 600,
        "aud": common.jwt_audience,
        "iss": common.jwt_issuer,
    }
    secret = common.jwt_secret.get_secret_value()
    if kind == "alg-none":
        parts = [{"alg": "none", "typ": "JWT"}, claims]
        encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=") for p in parts]
        return b".".join(encoded).decode() + "."
    if kind == "wrong-key":
        return jwt.encode(claims, "another-secret-of-at-least-thirty-two-bytes", "HS256")
    if kind == "hs512-same-key":  # an algorithm the services do not accept, with their key
        return jwt.encode(claims, secret, "HS512")
    changes: dict[str, dict[str, Any]] = {
        "expired": {"exp": now - 60, "iat": now - 3600},
        "no-exp": {"exp": None},
        "wrong-audience": {"aud": "someone-else"},
        "wrong-issuer": {"iss": "someone-else"},
        "unknown-role": {"role": "root"},
    }
    forged = {k: v for k, v in (claims | changes[kind]).items() if v is not None}
    return jwt.encode(forged, secret, "HS256")


TOKEN_KINDS = [
    "alg-none",
    "wrong-key",
    "hs512-same-key",
    "expired",
    "no-exp",
    "wrong-audience",
    "wrong-issuer",
    "unknown-role",
]


# -- raw sockets: what an HTTP client library will not send --------------------------------------


async def raw_http(url: str, head: bytes, body: bytes = b"", *, wait: float) -> int:
    """Send `head` and `body` on a fresh connection and return the answer's status code
    (0 when the server closes without one, or says nothing within `wait` seconds)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head + body)
        await writer.drain()
        async with asyncio.timeout(wait):
            line = await reader.readline()
        fields = line.split()
        return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    except (TimeoutError, ConnectionError):
        return 0
    finally:
        writer.close()


async def oversized_headers(world: World, service: str) -> int:
    base = world.live.intake.base_url if service == "intake" else world.live.crm.base_url
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 8000) for i in range(16))  # 128 KB
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + padding + b"\r\n"
    return await raw_http(base, head, wait=ANSWER_WITHIN)


async def slow_body(world: World) -> int:
    """Headers promise 1,000 bytes; 10 come, then nothing: the server must give up (408)
    without holding anything up meanwhile."""
    head = (
        b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Api-Key: " + world.attacker.api_key.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    return await raw_http(world.live.intake.base_url, head, b'{"first_na', wait=SLOW_BODY_LIMIT)


async def slow_head(url: str) -> int:
    """A head trickled a byte at a time, never ending (slowloris): the server must answer 408
    once its head timeout has passed, however steadily the bytes keep coming."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)

    async def trickle() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(trickle())
    try:
        async with asyncio.timeout(SLOW_HEAD_LIMIT):
            line = await reader.readline()
        fields = line.split()
        return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    except (TimeoutError, ConnectionError):
        return 0
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    send: Callable[[World], Awaitable[Sent]]
    expect: tuple[int, ...]
    service: Literal["intake", "crm-queue"] = "intake"
    kept: bool = False  # taken in for reading: kept, with its reason
    fresh_lead: bool = False  # first a new lead of the attacker's, claimed by mallory
    within: float = ANSWER_WITHIN
    then: Literal["lead", "queue", "bulk"] | None = None  # the bystander's good request

    @property
    def good_request(self) -> str:
        return self.then or ("lead" if self.service == "intake" else "queue")


def _job_path(world: World, suffix: str = "") -> str:
    return f"/v1/leads/bulk/{world.victim_job}{suffix}"


async def _redos(world: World) -> Sent:
    """A tenant's test-lead rule with catastrophic backtracking: refused, or harmless."""
    rules = {"rules": [{"field": "comments", "pattern": "^(a+)+$"}]}
    r = await world.intake.put(
        "/v1/admin/settings",
        json={"dedup_window_days": 30, "test_rules": rules},
        headers=world.staff(world.attacker),
    )
    if r.is_client_error:
        return r
    try:
        return await world.lead(world.attacker, good_lead() | {"comments": "a" * 21 + "!"})
    finally:
        await world.intake.put(
            "/v1/admin/settings",
            json={"dedup_window_days": 30, "test_rules": {"rules": []}},
            headers=world.staff(world.attacker),
        )


def _policy(**changes: Any) -> dict[str, Any]:
    return {"hours": {"timezone": "UTC"}} | changes


HTTP_CASES: dict[str, Case] = {
    # -- JSON leads ---------------------------------------------------------------------------
    # intake removes control characters (202, the lead stored without them: see
    # tests/integration/intake/test_json.py) or refuses the field (422): never a 500.
    "json-nul-in-first-name": Case(
        lambda w: w.lead(w.attacker, good_lead() | {"first_name": "Ann\x00Roe"}),
        (202, 422),
        kept=True,
    ),
    "json-control-chars-in-comments": Case(
        lambda w: w.lead(w.attacker, good_lead() | {"comments": "hi\x1b[31m\x07\x08there"}),
        (202, 422),
        kept=True,
    ),
    "json-nul-in-vehicle-model": Case(
        lambda w: w.lead(
            w.attacker, good_lead() | {"vehicle": {"make": "Volvo", "model": "X\x00"}}
        ),
        (202, 422),
        kept=True,
    ),
    "json-over-long-first-name": Case(
        lambda w: w.lead(w.attacker, good_lead() | {"first_name": "A" * 10_000}), (422,), kept=True
    ),
    "json-over-long-comments": Case(
        lambda w: w.lead(w.attacker, good_lead() | {"comments": "x" * 200_000}), (422,), kept=True
    ),
    "json-over-long-email": Case(
        lambda w: w.lead(w.attacker, good_lead() | {"email": "a" * 5_000 + "@example.com"}),
        (422,),
        kept=True,
    ),
    "json-10000-other-phones": Case(
        lambda w: w.lead(
            w.attacker, good_lead() | {"other_phones": [f"+1519555{i:04d}" for i in range(10_000)]}
        ),
        (422,),
        kept=True,
    ),
    "json-10000-extensions": Case(
        lambda w: w.lead(
            w.attacker, good_lead() | {"extensions": {str(i): i for i in range(10_000)}}
        ),
        (422,),
        kept=True,
    ),
    "json-deeply-nested": Case(
        lambda w: w.lead(
            w.attacker, b'{"extensions": {"x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}}"
        ),
        (422,),
        kept=True,
    ),
    "json-not-json": Case(lambda w: w.lead(w.attacker, b"\xff\xfe<lead/>"), (422,), kept=True),
    "json-oversize-body": Case(
        lambda w: w.lead(w.attacker, b'{"comments": "' + b"x" * 400_000 + b'"}'), (413,)
    ),
    "json-over-long-idempotency-key": Case(
        lambda w: w.lead(w.attacker, good_lead(), **{"Idempotency-Key": "k" * 10_000}), (422,)
    ),
    "json-another-groups-dealership": Case(
        lambda w: w.lead(w.attacker, good_lead() | {"dealership_id": w.victim.dealership_id}),
        (404, 422),
        kept=True,
    ),
    "json-api-key-of-nobody": Case(
        lambda w: w.intake.post(
            "/v1/leads", json=good_lead(), headers={"X-Api-Key": "fck_' OR 1=1 --" + "x" * 4000}
        ),
        (401,),
    ),
    # -- ADF XML ------------------------------------------------------------------------------
    "adf-xml-bomb": Case(lambda w: w.adf(w.attacker, BILLION_LAUGHS), (422,), kept=True),
    "adf-xxe": Case(lambda w: w.adf(w.attacker, XXE), (422,), kept=True),
    "adf-external-dtd": Case(lambda w: w.adf(w.attacker, EXTERNAL_DTD), (422,), kept=True),
    "adf-deep-nesting": Case(
        lambda w: w.adf(w.attacker, "<adf>" + "<x>" * 10_000 + "</x>" * 10_000 + "</adf>"),
        (422,),
        kept=True,
    ),
    "adf-too-many-elements": Case(
        lambda w: w.adf(w.attacker, adf_doc(body="<x/>" * 30_000)), (422,), kept=True
    ),
    "adf-oversize-body": Case(
        lambda w: w.adf(w.attacker, adf_doc(body="<!--" + "x" * 2_100_000 + "-->")), (413,)
    ),
    "adf-nul-byte": Case(
        lambda w: w.adf(w.attacker, adf_doc(name="Ann\x00Roe")), (422,), kept=True
    ),
    "adf-control-char-reference": Case(
        lambda w: w.adf(w.attacker, adf_doc(name="Ann&#x1b;Roe")), (422,), kept=True
    ),
    "adf-over-long-name": Case(
        lambda w: w.adf(w.attacker, adf_doc(name="A" * 100_000)), (422,), kept=True
    ),
    "adf-10000-phones": Case(
        lambda w: w.adf(
            w.attacker,
            adf_doc(phones="".join(f"<phone>+1519555{i:04d}</phone>" for i in range(10_000))),
        ),
        (422,),
        kept=True,
    ),
    # -- CSV bulk -----------------------------------------------------------------------------
    "csv-encoding-rot-13": Case(
        lambda w: w.bulk(
            w.attacker,
            b"email\nx@example.com\n",
            {"columns": {"email": "email"}, "encoding": "rot_13"},
        ),
        (422,),
        then="bulk",
    ),
    "csv-encoding-zlib-codec": Case(
        lambda w: w.bulk(
            w.attacker,
            b"email\nx@example.com\n",
            {"columns": {"email": "email"}, "encoding": "zlib_codec"},
        ),
        (422,),
        then="bulk",
    ),
    "csv-encoding-base64-codec": Case(
        lambda w: w.bulk(
            w.attacker, b"ZW1haWwK", {"columns": {"email": "email"}, "encoding": "base64_codec"}
        ),
        (422,),
        then="bulk",
    ),
    "csv-mapping-not-json": Case(
        lambda w: w.bulk(w.attacker, b"email\n", "{'columns': "), (422,), then="bulk"
    ),
    "csv-mapping-unknown-field": Case(
        lambda w: w.bulk(w.attacker, b"email\n", {"columns": {"password": "email"}}),
        (422,),
        then="bulk",
    ),
    "csv-mapped-column-missing": Case(
        lambda w: w.bulk(w.attacker, b"name\nAnn\n", {"columns": {"email": "E-mail"}}),
        (422,),
        then="bulk",
    ),
    # Last of the bulk cases: should the worker choke on the job, only this case shows it.
    "csv-another-groups-dealership": Case(
        lambda w: w.bulk(
            w.attacker, b"email\nx@example.com\n", dealership_id=w.victim.dealership_id
        ),
        (404, 422),
        then="bulk",
    ),
    "csv-other-groups-job": Case(
        lambda w: w.intake.get(_job_path(w), headers={"X-Api-Key": w.attacker.api_key}), (404,)
    ),
    "csv-other-groups-job-rows": Case(
        lambda w: w.intake.get(_job_path(w, "/rows"), headers={"X-Api-Key": w.attacker.api_key}),
        (404,),
    ),
    "csv-rows-after-beyond-any-row": Case(
        lambda w: w.intake.get(
            _job_path(w, "/rows"), params={"after": 10**30}, headers={"X-Api-Key": w.victim.api_key}
        ),
        (422,),
    ),
    # -- the admin API ------------------------------------------------------------------------
    "admin-nul-in-dealership-name": Case(
        lambda w: w.intake.post(
            "/v1/admin/dealerships",
            json={"name": "North\x00", "country": "CA", "timezone": "UTC"},
            headers=w.staff(w.attacker),
        ),
        (422,),
    ),
    "admin-control-chars-in-source-name": Case(
        lambda w: w.intake.post(
            "/v1/admin/sources",
            json={
                "name": "site\x1b[2J",
                "kind": "website",
                "dealership_id": w.attacker.dealership_id,
            },
            headers=w.staff(w.attacker),
        ),
        (422,),
    ),
    "admin-over-long-dealership-name": Case(
        lambda w: w.intake.post(
            "/v1/admin/dealerships",
            json={"name": "N" * 10_000, "country": "CA", "timezone": "UTC"},
            headers=w.staff(w.attacker),
        ),
        (422,),
    ),
    "admin-10000-test-rules": Case(
        lambda w: w.intake.put(
            "/v1/admin/settings",
            json={
                "dedup_window_days": 30,
                "test_rules": {
                    "rules": [{"field": "email", "pattern": f"^x{i}@"} for i in range(10_000)]
                },
            },
            headers=w.staff(w.attacker),
        ),
        (422,),
    ),
    "admin-nul-in-test-rule-description": Case(
        lambda w: w.intake.put(
            "/v1/admin/settings",
            json={
                "dedup_window_days": 30,
                "test_rules": {
                    "rules": [{"field": "email", "pattern": "^x@", "description": "\x00"}]
                },
            },
            headers=w.staff(w.attacker),
        ),
        (422,),
    ),
    "admin-catastrophic-test-rule": Case(_redos, (422, 202)),
    "admin-source-in-another-groups-dealership": Case(
        lambda w: w.intake.post(
            "/v1/admin/sources",
            json={"name": "sneaky", "kind": "website", "dealership_id": w.victim.dealership_id},
            headers=w.staff(w.attacker),
        ),
        (404,),
    ),
    "admin-rotate-another-groups-key": Case(
        lambda w: w.intake.post(
            f"/v1/admin/sources/{w.victim.source_id}/rotate-key", headers=w.staff(w.attacker)
        ),
        (404,),
    ),
    "admin-revoke-another-groups-source": Case(
        lambda w: w.intake.post(
            f"/v1/admin/sources/{w.victim.source_id}/revoke", headers=w.staff(w.attacker)
        ),
        (404,),
    ),
    # -- crm-queue ----------------------------------------------------------------------------
    **{
        f"crm-{action}-another-groups-lead": Case(
            lambda w, action=action, body=body: w.crm_act(w.victim_lead, action, body, "admin"),
            (404,),
            service="crm-queue",
        )
        for action, body in (
            ("claim", None),
            ("release", None),
            ("attempts", {"channel": "call", "outcome": "reached"}),
            ("qualify", {"outcome": "quotation.requested"}),
            ("lose", {"reason_code": "no_interest.other_car"}),
        )
    },
    "crm-read-another-groups-lead": Case(
        lambda w: w.crm.get(f"/v1/leads/{w.victim_lead}", headers=w.staff(w.attacker)),
        (404,),
        service="crm-queue",
    ),
    "crm-read-another-groups-policy": Case(
        lambda w: w.crm.get(
            f"/v1/dealerships/{w.victim.dealership_id}/policy", headers=w.staff(w.attacker)
        ),
        (404,),
        service="crm-queue",
    ),
    "crm-set-another-groups-policy": Case(
        lambda w: w.crm.put(
            f"/v1/dealerships/{w.victim.dealership_id}/policy",
            json=_policy(sla="PT1M"),
            headers=w.staff(w.attacker),
        ),
        (404,),
        service="crm-queue",
    ),
    "crm-nul-in-attempt-note": Case(
        lambda w: w.crm_act(
            w.fresh_lead,
            "attempts",
            {"channel": "call", "outcome": "no_answer", "note": "rang\x00"},
        ),
        (422,),
        service="crm-queue",
        fresh_lead=True,
    ),
    "crm-over-long-attempt-note": Case(
        lambda w: w.crm_act(
            w.fresh_lead,
            "attempts",
            {"channel": "call", "outcome": "no_answer", "note": "n" * 100_000},
        ),
        (422,),
        service="crm-queue",
        fresh_lead=True,
    ),
    "crm-control-chars-in-lose-note": Case(
        lambda w: w.crm_act(
            w.fresh_lead,
            "lose",
            {"reason_code": "no_interest.other_car", "note": "\x1b]0;pwned\x07"},
        ),
        (422,),
        service="crm-queue",
        fresh_lead=True,
    ),
    "crm-nul-in-qualify-details": Case(
        lambda w: w.crm_act(
            w.fresh_lead, "qualify", {"outcome": "quotation.requested", "details": "\x00"}
        ),
        (422,),
        service="crm-queue",
        fresh_lead=True,
    ),
    "crm-policy-duration-beyond-any-calendar": Case(
        lambda w: w.crm.put(
            f"/v1/dealerships/{w.attacker.dealership_id}/policy",
            json=_policy(sla="P99999999999D"),
            headers=w.staff(w.attacker),
        ),
        (422,),
        service="crm-queue",
    ),
    "crm-policy-10000-retry-gaps": Case(
        lambda w: w.crm.put(
            f"/v1/dealerships/{w.attacker.dealership_id}/policy",
            json=_policy(first_round=["PT1H"] * 10_000),
            headers=w.staff(w.attacker),
        ),
        (422,),
        service="crm-queue",
    ),
    "crm-nul-in-leads-filter": Case(
        lambda w: w.crm.get("/v1/leads", params={"source": "s\x00"}, headers=w.staff(w.attacker)),
        (422,),
        service="crm-queue",
    ),
    "crm-leads-offset-beyond-any-lead": Case(
        lambda w: w.crm.get("/v1/leads", params={"offset": 10**30}, headers=w.staff(w.attacker)),
        (422,),
        service="crm-queue",
    ),
    # -- forged staff tokens, on both services ------------------------------------------------
    **{
        f"jwt-{kind}-{service}": Case(
            lambda w, kind=kind, path=path, service=service: (
                w.intake if service == "intake" else w.crm
            ).get(path, headers={"Authorization": f"Bearer {forged_token(w, kind)}"}),
            (401,),
            service=service,  # type: ignore[arg-type]
        )
        for kind in TOKEN_KINDS
        for service, path in (("intake", "/v1/admin/dealerships"), ("crm-queue", "/v1/queue"))
    },
    # -- the HTTP server itself ---------------------------------------------------------------
    "http-oversized-headers-intake": Case(lambda w: oversized_headers(w, "intake"), (431,)),
    "http-oversized-headers-crm-queue": Case(
        lambda w: oversized_headers(w, "crm-queue"), (431,), service="crm-queue"
    ),
    "http-slow-body": Case(slow_body, (408,), within=SLOW_BODY_LIMIT + ANSWER_WITHIN),
    "http-slow-head-intake": Case(
        lambda w: slow_head(w.live.intake.base_url), (408,), within=SLOW_HEAD_LIMIT
    ),
    "http-slow-head-crm-queue": Case(
        lambda w: slow_head(w.live.crm.base_url),
        (408,),
        service="crm-queue",
        within=SLOW_HEAD_LIMIT,
    ),
}


async def _good_request(world: World, kind: str, timing: Timing) -> None:
    """The bystander's next good request goes through, at once."""
    started = time.monotonic()
    if kind == "lead":
        r = await world.lead(world.bystander, good_lead())
        assert r.status_code == 202, r.text
    elif kind == "queue":
        r = await world.crm.get("/v1/queue", headers=world.staff(world.bystander))
        assert r.status_code == 200, r.text
    else:
        r = await world.bulk(world.bystander, f"email\n{uuid.uuid4().hex}@example.com\n".encode())
        assert r.status_code == 202, r.text
        key = {"X-Api-Key": world.bystander.api_key}
        async with asyncio.timeout(10 * SLACK):  # the bulk worker is not stuck either
            while (
                await world.intake.get(f"/v1/leads/bulk/{r.json()['job_id']}", headers=key)
            ).json()["status"] != "done":
                await asyncio.sleep(0.05)
        return
    timing.check_after(time.monotonic() - started)


async def _check_kept(world: World, response: httpx.Response) -> None:
    body = response.json()
    assert body.get("raw_payload_id"), f"not kept: {body}"
    row = await world.raw_payload(body["raw_payload_id"])
    assert row is not None
    if body["error"] == "invalid_payload":
        assert (row["status"], bool(row["error"])) == ("invalid", True)
    else:  # rejected: the submission holds the reason code
        assert row["status"] == "processed"
        assert body.get("reason_code") or body.get("errors")


@pytest.mark.parametrize("name", list(HTTP_CASES))
async def test_hostile_http_request(world: World, name: str) -> None:
    case = HTTP_CASES[name]
    service = world.live.intake if case.service == "intake" else world.live.crm
    if case.fresh_lead:
        world.fresh_lead = await world.claimed_lead()
    probe = await Probe.start(service.base_url)
    started = time.monotonic()
    try:
        sent = await case.send(world)
    finally:
        elapsed = time.monotonic() - started
        timing = record(name, elapsed, await probe.stop(), case.within)
    status = sent if isinstance(sent, int) else sent.status_code
    detail = sent if isinstance(sent, int) else sent.text[:300]
    assert status in case.expect, f"{status}: {detail}"
    check(timing)
    if case.kept and isinstance(sent, httpx.Response) and status == 422:
        await _check_kept(world, sent)
    await _good_request(world, case.good_request, timing)


# -- AMQP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    body: Callable[[World], bytes]
    key: Callable[[World], str | None] = lambda w: w.attacker.api_key
    to: Literal["intake", "crm-queue"] = "intake"
    kept: bool = False  # the raw payload is kept (a source's key came with it)
    # Taken in with its control characters removed (intake's choice for text it can clean),
    # instead of dead-lettered.
    cleaned: bool = False


def _event(world: World, person: dict[str, Any]) -> bytes:
    """A valid `lead.ingested` of the attacker's dealership, with `person` written over."""
    envelope = ingested(tenant=world.attacker.id, dealership=world.attacker.dealership_id)
    data = json.loads(envelope.to_json_bytes())
    data["payload"]["person"] |= person
    return json.dumps(data).encode()


AMQP_CASES: dict[str, Message] = {
    "amqp-no-api-key": Message(lambda w: json.dumps(good_lead()).encode(), key=lambda w: None),
    "amqp-unknown-api-key": Message(
        lambda w: json.dumps(good_lead()).encode(), key=lambda w: "fck_000000000000_nope"
    ),
    "amqp-not-json": Message(lambda w: b"\x00\xffnot json at all", kept=True),
    "amqp-nul-in-first-name": Message(
        lambda w: json.dumps(good_lead() | {"first_name": "Ann\x00"}).encode(), cleaned=True
    ),
    "amqp-control-chars-in-comments": Message(
        lambda w: json.dumps(good_lead() | {"comments": "\x1b[31mred\x07"}).encode(),
        cleaned=True,
    ),
    "amqp-10000-other-phones": Message(
        lambda w: json.dumps(
            good_lead() | {"other_phones": [f"+1519555{i:04d}" for i in range(10_000)]}
        ).encode(),
        kept=True,
    ),
    "amqp-oversize-body": Message(
        lambda w: json.dumps(good_lead() | {"comments": "x" * 3_000_000}).encode()
    ),
    "amqp-another-groups-dealership": Message(
        lambda w: json.dumps(good_lead() | {"dealership_id": w.victim.dealership_id}).encode(),
        kept=True,
    ),
    "amqp-crm-event-not-json": Message(lambda w: b"{not json", to="crm-queue"),
    "amqp-crm-event-nul-in-person": Message(
        lambda w: _event(w, {"first_name": "Ann\x00", "email": "a@example.com"}), to="crm-queue"
    ),
    "amqp-crm-event-over-long-name": Message(
        lambda w: _event(w, {"first_name": "A" * 200_000, "email": "a@example.com"}),
        to="crm-queue",
    ),
}


async def _publish(
    channel: aio_pika.abc.AbstractChannel, world: World, message: Message, message_id: str
) -> None:
    key = message.key(world)
    topology = world.live.topology
    if message.to == "intake":
        exchange = channel.default_exchange
        routing_key = topology.intake_raw_queue_name
    else:
        exchange = await channel.get_exchange(topology.events_exchange_name)
        routing_key = "lead.ingested.v1"
    await exchange.publish(
        aio_pika.Message(
            message.body(world),
            content_type="application/json",
            message_id=message_id,
            headers={"x-api-key": key} if key else {},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=routing_key,
    )


async def _dead_lettered(
    channel: aio_pika.abc.AbstractChannel, world: World, queue: str, message_id: str
) -> aio_pika.abc.AbstractIncomingMessage:
    dlq = await channel.get_queue(world.live.topology.dead_letter_queue_name(queue))
    # A deadline, not asyncio.timeout: a basic.get cancelled midway closes the channel.
    deadline = time.monotonic() + DEAD_LETTER_WITHIN
    while time.monotonic() < deadline:
        got = await dlq.get(fail=False, no_ack=True)
        if got is None:
            await asyncio.sleep(0.05)
        elif got.message_id == message_id:
            return got
    raise AssertionError(f"not dead-lettered from {queue} within {DEAD_LETTER_WITHIN} s")


async def _taken_in(world: World, message_id: str) -> None:
    deadline = time.monotonic() + DEAD_LETTER_WITHIN
    while time.monotonic() < deadline:
        row = await world.raw_payload_of_message(message_id)
        if row is not None and row["status"] == "processed":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} was not taken in")


async def _bystander_over_amqp(channel: aio_pika.abc.AbstractChannel, world: World) -> None:
    message_id = str(uuid.uuid4())
    good = Message(lambda w: json.dumps(good_lead()).encode(), key=lambda w: w.bystander.api_key)
    await _publish(channel, world, good, message_id)
    await _taken_in(world, message_id)


@pytest.mark.parametrize("name", list(AMQP_CASES))
async def test_hostile_amqp_message(world: World, name: str) -> None:
    message = AMQP_CASES[name]
    topology = world.live.topology
    queue = (
        topology.intake_raw_queue_name
        if message.to == "intake"
        else topology.queue_name("crm-queue", "lead.ingested.v1")
    )
    service = world.live.intake if message.to == "intake" else world.live.crm
    message_id = str(uuid.uuid4())
    async with await world.amqp.channel(publisher_confirms=True) as channel:
        probe = await Probe.start(service.base_url)
        started = time.monotonic()
        try:
            await _publish(channel, world, message, message_id)
            if message.cleaned:
                await _taken_in(world, message_id)
            else:
                dead = await _dead_lettered(channel, world, queue, message_id)
        finally:
            elapsed = time.monotonic() - started
            timing = record(name, elapsed, await probe.stop(), DEAD_LETTER_WITHIN)
        if message.cleaned:
            check(timing)
            await _bystander_over_amqp(channel, world)
            return
        reasons = {
            k: v for k, v in (dead.headers or {}).items() if "error" in k or "reason" in k.lower()
        }
        assert any(str(v).strip() for v in reasons.values()), f"no reason: {dead.headers}"
        check(timing)
        if message.kept:
            row = await world.raw_payload_of_message(message_id)
            assert row is not None and row["status"] == "invalid" and row["error"], row
        await _bystander_over_amqp(channel, world)


def test_the_table_is_big_enough() -> None:
    assert len(HTTP_CASES) + len(AMQP_CASES) >= 45
    ways_in = {name.split("-")[0] for name in (*HTTP_CASES, *AMQP_CASES)}
    assert {"json", "adf", "csv", "amqp", "admin", "crm", "jwt", "http"} <= ways_in

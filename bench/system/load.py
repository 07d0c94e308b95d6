"""The dealer group the leads go to, their JSON bodies, and the watch on crm-queue's
`GET /v1/queue` that sees each sampled lead's task appear.

A sampled lead goes to a dealership of its own, so an agent of the dealerships still awaited
finds exactly their tasks in the queue (it is ordered by SLA due: in a shared dealership a new
lead sits behind the older ones, past any `limit`). One watcher asks for all of them at once,
every `poll_s`, so the polling costs crm-queue the same whatever the rate.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from pydantic import SecretStr

from bench.common.stats import summary_ms
from bench.intake.data import Person, is_valid, json_lead
from bench.intake.json_path import Sent
from shared.auth import issue_token
from shared.settings import CommonSettings


async def add_dealerships(
    base_url: str, jwt_secret: str, tenant: str, count: int, in_flight: int = 8
) -> list[str]:
    """`count` more dealerships of the dealer group, through intake's admin API."""
    settings = CommonSettings(jwt_secret=SecretStr(jwt_secret))
    token = issue_token(settings, subject="bench", role="admin", tenant=tenant)
    slots = asyncio.Semaphore(in_flight)

    async def one(client: httpx.AsyncClient, i: int) -> str:
        async with slots:
            r = await client.post(
                "/v1/admin/dealerships",
                json={"name": f"bench-{i}", "country": "CA", "timezone": "America/Toronto"},
            )
        r.raise_for_status()
        return str(r.json()["id"])

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        return list(await asyncio.gather(*(one(client, i) for i in range(count))))


def bodies(people: Sequence[Person], dealerships: Sequence[str], seed: int) -> list[bytes]:
    """One JSON lead per person, the i-th for dealership `dealerships[i % len]`, serialised up
    front (the client should not time its own encoding)."""
    rng = random.Random(seed)
    out = []
    for i, person in enumerate(people):
        if not is_valid(person.phone):
            raise ValueError(f"generated an invalid phone number: {person.phone}")
        lead = json_lead(person, rng) | {"dealership_id": dealerships[i % len(dealerships)]}
        out.append(json.dumps(lead).encode())
    return out


@dataclass
class Sighting:
    watched: float  # monotonic: when the watcher began asking for it
    get_sent: float | None = None  # the GET that found it was sent ...
    get_answered: float | None = None  # ... and answered
    lead_id: str | None = None


@dataclass
class QueueWatch:
    """Asks crm-queue's `GET /v1/queue`, as an agent of the dealerships awaited, every
    `poll_s` (or as soon as the last answer came, if slower) until each shows its task."""

    base_url: str
    jwt_secret: str
    tenant: str
    poll_s: float
    wait_s: float = 60.0
    sightings: dict[str, Sighting] = field(default_factory=dict)  # by dealership
    gets: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    _awaited: set[str] = field(default_factory=set)
    _tokens: dict[tuple[str, ...], dict[str, str]] = field(default_factory=dict)

    def watch(self, dealership: str) -> None:
        self.sightings[dealership] = Sighting(time.monotonic())
        self._awaited.add(dealership)

    def _headers(self, dealerships: tuple[str, ...]) -> dict[str, str]:
        if dealerships not in self._tokens:
            settings = CommonSettings(jwt_secret=SecretStr(self.jwt_secret))
            token = issue_token(
                settings, subject="bench-agent", role="agent", tenant=self.tenant,
                dealerships=dealerships,
            )  # fmt: skip
            self._tokens = {dealerships: {"Authorization": f"Bearer {token}"}}
        return self._tokens[dealerships]

    async def _ask(self, http: aiohttp.ClientSession) -> None:
        awaited = tuple(sorted(self._awaited))
        sent = time.monotonic()
        try:
            async with http.get(
                "/v1/queue", params={"limit": "200"}, headers=self._headers(awaited)
            ) as r:
                status = r.status
                tasks: list[dict[str, Any]] = await r.json() if status == 200 else []
        except (aiohttp.ClientError, TimeoutError):
            status, tasks = 0, []
        answered = time.monotonic()
        self.gets += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        for task in tasks:
            dealership = str(task.get("dealership_id"))
            if dealership in self._awaited:
                self._awaited.discard(dealership)
                sighting = self.sightings[dealership]
                sighting.get_sent, sighting.get_answered = sent, answered
                sighting.lead_id = str(task.get("lead_id"))
        for dealership in list(self._awaited):
            if answered - self.sightings[dealership].watched > self.wait_s:
                self._awaited.discard(dealership)  # given up: never seen

    async def run(self, done: asyncio.Event) -> None:
        """Until `done` is set and nothing is awaited any more."""
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(
            base_url=self.base_url, connector=connector, timeout=timeout
        ) as http:
            while self._awaited or not done.is_set():
                started = time.monotonic()
                if self._awaited:
                    await self._ask(http)
                await asyncio.sleep(max(self.poll_s - (time.monotonic() - started), 0.0))


def visibility(watch: QueueWatch, sent_by_dealership: dict[str, Sent]) -> dict[str, Any]:
    """POST sent → the answer of the GET /v1/queue that showed its task (an upper bound), and
    → that GET sent (the task was committed between the GET before it and this one's answer).
    """
    seen, sent_to_get, missing, wrong = [], [], [], 0
    for dealership, post in sent_by_dealership.items():
        sighting = watch.sightings.get(dealership)
        if post.status != 202:
            continue
        if sighting is None or sighting.get_answered is None or sighting.get_sent is None:
            missing.append(post.lead_id)
            continue
        if sighting.lead_id != post.lead_id:
            wrong += 1
        seen.append(sighting.get_answered - post.sent)
        sent_to_get.append(max(sighting.get_sent - post.sent, 0.0))
    return {
        "sampled": len(sent_by_dealership),
        "seen": len(seen),
        "poll_ms": watch.poll_s * 1000,
        "gets": watch.gets,
        "get_statuses": {str(k): v for k, v in sorted(watch.statuses.items())},
        "visible_ms": summary_ms(seen),
        "visible_get_sent_ms": summary_ms(sent_to_get),
        "never_visible": missing[:20],
        "other_lead_seen": wrong,
    }

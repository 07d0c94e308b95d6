"""A CRM agent at work during the run, so the services after crm-queue get work too: it takes
tasks from crm-queue's queue (`GET /v1/queue`, as an agent of one tenant's dealership) and
either qualifies them (`lead.qualified`: assignment makes a prospect) or, after reaching the
customer, writes them off with a code recovery follows up (`lead.lost`: recovery schedules,
intake closes the lead). metrics counts both.

What must follow is read from crm-queue's own tasks at the end (a task qualified or lost there,
whatever the agent's HTTP answer was), so a request lost to a fault needs no bookkeeping here:
it is tallied, and the task is taken again later or stays open. Bounded by `limit` tasks.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from pydantic import SecretStr

from forecourt_chaos import repo
from forecourt_chaos.service_layer.load import Answer, Tally
from shared.auth import issue_token
from shared.settings import CommonSettings

repo.importable()
from bench.intake.service import Tenant  # noqa: E402

QUALIFY = {"outcome": "quotation.requested"}
REACHED = {"channel": "call", "outcome": "reached"}
LOSE = {"reason_code": "no_interest.follow_up"}  # recovery follows this reason up


class Agent:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        crm_urls: Callable[[], list[str]],
        tenants: Sequence[Tenant],
        jwt_secret: str,
        seed: int,
        *,
        limit: int,
        tally: Tally,
        pause_s: float = 1.0,
        attempt_s: float = 10.0,
    ) -> None:
        self._http = http
        self._urls = crm_urls
        self._tenants = list(tenants)
        self._rng = random.Random(seed + 1)
        self._limit = limit
        self._tally = tally
        self._pause_s = pause_s
        self._timeout = aiohttp.ClientTimeout(total=attempt_s)
        settings = CommonSettings(jwt_secret=SecretStr(jwt_secret))
        self._headers = {
            t.name: {
                "Authorization": "Bearer "
                + issue_token(
                    settings,
                    subject="chaos-agent",
                    role="agent",
                    tenant=t.name,
                    dealerships=[t.dealership_id],
                )
            }
            for t in self._tenants
        }
        self.worked = 0  # tasks the agent closed (as far as it was told)

    async def _call(
        self, action: str, method: str, tenant: str, path: str, body: Any = None
    ) -> tuple[Answer, Any]:
        urls = self._urls()
        if not urls:
            return Answer("retry", "no replica"), None
        url = self._rng.choice(urls) + path
        try:
            async with self._http.request(
                method, url, json=body, headers=self._headers[tenant], timeout=self._timeout
            ) as r:
                text = await r.text()
                if r.status < 300:
                    answer = Answer("ok", str(r.status))
                else:
                    answer = Answer("retry" if r.status >= 500 else "failed", str(r.status))
                self._tally.add(f"crm-queue {action}", answer, text)
                ok = answer.kind == "ok"
                return answer, (await r.json(content_type=None) if ok else None)
        except TimeoutError:
            answer = Answer("retry", "timeout")
        except aiohttp.ClientError:
            answer = Answer("retry", "connection")
        self._tally.add(f"crm-queue {action}", answer)
        return answer, None

    async def _work(self, tenant: str, lead_id: str) -> None:
        base = f"/v1/leads/{lead_id}"
        answer, _ = await self._call("claim", "POST", tenant, f"{base}/claim")
        if answer.kind != "ok":
            return
        if self._rng.random() < 0.5:
            answer, _ = await self._call("qualify", "POST", tenant, f"{base}/qualify", QUALIFY)
        else:
            answer, _ = await self._call("attempt", "POST", tenant, f"{base}/attempts", REACHED)
            if answer.kind != "ok":
                return
            answer, _ = await self._call("lose", "POST", tenant, f"{base}/lose", LOSE)
        if answer.kind == "ok":
            self.worked += 1

    async def run(self, stop: Callable[[], bool]) -> None:
        while self.worked < self._limit and not stop() and self._tenants:
            tenant = self._rng.choice(self._tenants).name
            _, tasks = await self._call("queue", "GET", tenant, "/v1/queue?limit=3")
            for task in tasks or []:
                if self.worked >= self._limit or stop():
                    break
                await self._work(tenant, str(task["lead_id"]))
            await asyncio.sleep(self._pause_s)

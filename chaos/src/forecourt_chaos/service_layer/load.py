"""The load: planned leads sent through every way in at a capped rate, each retried with its
own idempotency key until it gets a definite answer or its deadline passes.

- timeouts, connection errors, 5xx and 429 are retried (on the next intake replica);
- a 202 (HTTP) or a publisher confirm (AMQP) is an acknowledgement: `ok`;
- any other 4xx is a definite refusal: `failed`;
- no definite answer by the deadline: `indeterminate`.
What each attempt got is tallied by way in and answer, with a sample body per error status.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aio_pika.exceptions import DeliveryError

from forecourt_chaos import repo
from forecourt_chaos.adapters.broker import RawPublisher
from forecourt_chaos.domain.accounting import Ack, SentLead
from forecourt_chaos.domain.payloads import CSV_MAPPING, adf_document, csv_file, json_body
from forecourt_chaos.domain.plan import Batch, PlannedLead

repo.importable()
from bench.intake.service import Tenant  # noqa: E402

_BACKOFF_S = (0.2, 2.0)  # first wait, longest wait (doubling)


@dataclass(frozen=True)
class Answer:
    kind: Literal["ok", "retry", "failed"]
    label: str  # "202", "503", "timeout", "connection", "confirmed", ...
    body: Any = None


@dataclass
class Tally:
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: dict[tuple[str, str], str] = field(default_factory=dict)  # first error body
    jobs: list[tuple[str, str]] = field(default_factory=list)  # (tenant, bulk job id)

    def add(self, way: str, answer: Answer, text: str | None = None) -> None:
        self.attempts[(way, answer.label)] += 1
        if text is not None and answer.kind != "ok":
            self.samples.setdefault((way, answer.label), text[:500])


class Sender:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        intake_urls: Callable[[], list[str]],
        tenants: dict[str, Tenant],
        publisher: RawPublisher,
        *,
        deadline_s: float = 120.0,
        attempt_s: float = 10.0,
    ) -> None:
        self._http = http
        self._urls = intake_urls
        self._turn = itertools.count()
        self._tenants = tenants
        self._publisher = publisher
        self._deadline_s = deadline_s
        self._attempt_s = attempt_s
        self.tally = Tally()

    def _next_url(self) -> str:
        urls = self._urls()
        return urls[next(self._turn) % len(urls)]

    async def _post(
        self, way: str, path: str, data: bytes, headers: dict[str, str], **params: str
    ) -> Answer:
        url = self._next_url() + path
        timeout = aiohttp.ClientTimeout(total=self._attempt_s)
        text = None
        try:
            async with self._http.post(
                url, data=data, headers=headers, params=params, timeout=timeout
            ) as r:
                status, text = r.status, await r.text()
        except TimeoutError:
            answer = Answer("retry", "timeout")
        except aiohttp.ClientError:
            answer = Answer("retry", "connection")
        else:
            if status == 202:
                answer = Answer("ok", "202", json.loads(text))
            elif status >= 500 or status == 429:
                answer = Answer("retry", str(status))
            else:
                answer = Answer("failed", str(status))
        self.tally.add(way, answer, text)
        return answer

    async def _amqp(self, lead: PlannedLead) -> Answer:
        key = self._tenants[lead.tenant].api_key
        try:
            await self._publisher.publish(json_body(lead), lead.key, key, self._attempt_s)
            answer = Answer("ok", "confirmed")
        except TimeoutError:
            answer = Answer("retry", "timeout")
        except DeliveryError:
            answer = Answer("retry", "returned or nacked")
        except Exception as exc:  # a closed channel, a lost connection: it may or may not be in
            answer = Answer("retry", type(exc).__name__)
        self.tally.add("amqp", answer)
        return answer

    async def _until_definite(self, attempt: Callable[[], Awaitable[Answer]]) -> Answer:
        deadline = time.monotonic() + self._deadline_s
        for n in itertools.count():
            answer = await attempt()
            if answer.kind != "retry" or time.monotonic() > deadline:
                return answer
            await asyncio.sleep(min(_BACKOFF_S[0] * 2**n, _BACKOFF_S[1]))
        raise AssertionError("unreachable")

    def _attempt(self, batch: Batch) -> Callable[[], Awaitable[Answer]]:
        tenant = self._tenants[batch.tenant]
        headers = {"X-Api-Key": tenant.api_key}
        lead = batch.leads[0]
        if batch.way == "json" or batch.way == "probe":
            headers |= {"Content-Type": "application/json", "Idempotency-Key": lead.key}
            return lambda: self._post(batch.way, "/v1/leads", json_body(lead), headers)
        if batch.way == "adf":
            headers |= {"Content-Type": "application/xml", "Idempotency-Key": lead.key}
            return lambda: self._post("adf", "/v1/leads/adf", adf_document(lead), headers)
        if batch.way == "csv":
            headers |= {"Content-Type": "text/csv"}
            data, mapping = csv_file(batch.leads), json.dumps(CSV_MAPPING)
            return lambda: self._post("csv", "/v1/leads/bulk", data, headers, mapping=mapping)
        if batch.way == "amqp":
            return lambda: self._amqp(lead)
        raise ValueError(f"unknown way in: {batch.way}")

    async def send(self, batch: Batch) -> tuple[list[SentLead], Answer]:
        """Every lead of the batch with what the client was told in the end."""
        answer = await self._until_definite(self._attempt(batch))
        ack = {"ok": Ack.OK, "failed": Ack.FAILED}.get(answer.kind, Ack.INDETERMINATE)
        if batch.way == "csv" and answer.kind == "ok":
            self.tally.jobs.append((batch.tenant, str(answer.body["job_id"])))
        sent = [SentLead(x.key, x.tenant, x.email, batch.way, ack) for x in batch.leads]
        return sent, answer


@dataclass
class Progress:
    planned: int = 0
    answered: Counter[str] = field(default_factory=Counter)  # by ack
    in_flight: int = 0


class Generator:
    """Sends batches at up to `rate` leads/s with at most `in_flight` requests at once (a
    stalled system slows the load down instead of piling requests up)."""

    def __init__(self, sender: Sender, rate: float, in_flight: int = 64) -> None:
        self._sender = sender
        self._rate = rate
        self._slots = asyncio.Semaphore(in_flight)
        self.sent: list[SentLead] = []
        self.errors: Counter[str] = Counter()  # sends the harness itself failed
        self.progress = Progress()

    async def _one(self, batch: Batch) -> None:
        try:
            try:
                sent, _ = await self._sender.send(batch)
            except Exception as exc:  # a harness bug must not drop leads from the accounting
                self.errors[type(exc).__name__] += 1
                sent = [
                    SentLead(x.key, x.tenant, x.email, batch.way, Ack.INDETERMINATE)
                    for x in batch.leads
                ]
            self.sent.extend(sent)
            self.progress.answered.update(s.ack.value for s in sent)
        finally:
            self.progress.in_flight -= 1
            self._slots.release()

    async def run(self, batches: Iterator[Batch], stop: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        for batch in batches:
            if stop():
                break
            due = start + self.progress.planned / self._rate
            await asyncio.sleep(max(due - loop.time(), 0.0))
            await self._slots.acquire()
            self.progress.planned += len(batch.leads)
            self.progress.in_flight += 1
            task = asyncio.create_task(self._one(batch))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

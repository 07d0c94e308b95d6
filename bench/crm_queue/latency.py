"""`lead.ingested` published at a steady rate → the task visible over crm-queue's API.

Each event is published (confirmed) and then `GET /v1/leads/{lead_id}` is polled with a manager
token every `poll_s` until it answers 200: the task row is committed and readable. Every
`sample_every`-th event goes to a dealership of its own, and once visible an agent token of
that dealership must find it in `GET /v1/queue` (the queue is ordered by SLA due, so in a shared
dealership a new lead would sit behind older ones, past any `limit`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common.stats import summary_ms
from bench.crm_queue.events import Event, Publisher


@dataclass
class Seen:
    lead_id: str
    sampled: bool
    published: float = 0.0  # monotonic, before publish
    confirmed: float = 0.0  # publisher confirm
    visible: float | None = None  # the first 200 of GET /v1/leads/{id} came back
    last_get_s: float | None = None  # round trip of that GET (visible - last_get_s: it was sent)
    polls: int = 0
    in_queue: bool | None = None  # sampled only: in GET /v1/queue of its dealership
    queue_seen: float | None = None
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class Plan:
    count: int
    rate: float
    poll_s: float
    sample_every: int
    wait_s: float = 30.0


class Observer:
    def __init__(
        self,
        http: httpx.AsyncClient,
        publisher: Publisher,
        manager: dict[str, str],
        agents: dict[str, dict[str, str]],
        plan: Plan,
    ) -> None:
        self.http = http
        self.publisher = publisher
        self.manager = manager
        self.agents = agents  # dealership → agent headers, for the sampled dealerships
        self.plan = plan

    async def _poll(self, seen: Seen) -> None:
        deadline = seen.confirmed + self.plan.wait_s
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                r = await self.http.get(f"/v1/leads/{seen.lead_id}", headers=self.manager)
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            seen.polls += 1
            seen.statuses[status] += 1
            if status == 200:
                seen.visible = time.monotonic()
                seen.last_get_s = seen.visible - sent
                return
            await asyncio.sleep(self.plan.poll_s)

    async def _check_queue(self, seen: Seen, dealership: str) -> None:
        r = await self.http.get("/v1/queue", params={"limit": 10}, headers=self.agents[dealership])
        seen.queue_seen = time.monotonic()
        seen.in_queue = r.status_code == 200 and any(
            str(t.get("lead_id")) == seen.lead_id for t in r.json()
        )

    async def observe(self, event: Event, sampled: bool) -> Seen:
        seen = Seen(event.lead_id, sampled)
        seen.published = time.monotonic()
        await self.publisher.publish(event)
        seen.confirmed = time.monotonic()
        await self._poll(seen)
        if sampled and seen.visible is not None:
            await self._check_queue(seen, event.dealership_id)
        return seen


async def steady(
    observer: Observer,
    build: Callable[[int], Event],
    on_done: Callable[[], None],
) -> tuple[list[Seen], float]:
    """Publish `plan.count` events at `plan.rate`/s (open loop: a slow answer does not delay
    the next publish); returns what was seen and the achieved publish rate."""
    plan = observer.plan
    tasks: list[asyncio.Task[Seen]] = []
    started = time.monotonic()
    for i in range(plan.count):
        delay = started + i / plan.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        event = build(i)  # received_at = now: built when it is due, not ahead
        task = asyncio.create_task(observer.observe(event, i % plan.sample_every == 0))
        task.add_done_callback(lambda _t: on_done())
        tasks.append(task)
    last_sent = time.monotonic()
    seen = list(await asyncio.gather(*tasks))
    achieved = (plan.count - 1) / (last_sent - started) if plan.count > 1 else 0.0
    return seen, achieved


def summarise(seen: Sequence[Seen], plan: Plan, achieved_rate: float) -> dict[str, Any]:
    visible = [s for s in seen if s.visible is not None]
    sampled = [s for s in seen if s.sampled]
    in_queue = [s for s in sampled if s.in_queue]
    statuses: Counter[int] = Counter()
    for s in seen:
        statuses.update(s.statuses)
    return {
        "events": len(seen),
        "offered_per_s": plan.rate,
        "published_per_s": round(achieved_rate, 1),
        "poll_ms": plan.poll_s * 1000,
        "confirm_ms": summary_ms([s.confirmed - s.published for s in seen]),
        # the figure: publisher confirm → first 200 of GET /v1/leads/{id} back (an upper
        # bound: the commit came before that GET was answered) ...
        "visible_ms": summary_ms([s.visible - s.confirmed for s in visible if s.visible]),
        # ... and → that GET sent (the commit came after the 404 before it, ≤ poll_s + one
        # round trip earlier)
        "visible_get_sent_ms": summary_ms(
            [
                s.visible - s.last_get_s - s.confirmed
                for s in visible
                if s.visible is not None and s.last_get_s is not None
            ]
        ),
        "visible_from_publish_ms": summary_ms(
            [s.visible - s.published for s in visible if s.visible]
        ),
        "last_get_ms": summary_ms([s.last_get_s for s in visible if s.last_get_s is not None]),
        "polls_per_event": round(sum(s.polls for s in seen) / len(seen), 1) if seen else None,
        "never_visible": len(seen) - len(visible),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "queue_sampled": len(sampled),
        "queue_found": len(in_queue),
        "queue_ms": summary_ms(
            [s.queue_seen - s.confirmed for s in in_queue if s.queue_seen is not None]
        ),
        "missing_from_queue": [s.lead_id for s in sampled if not s.in_queue],
    }

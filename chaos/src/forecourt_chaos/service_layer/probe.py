"""Probe leads: one lead posted to intake (retried like any other), then watched until every
service with a reader has it (crm-queue: its task, with `lead.ingested` applied). Measures the
pipeline end to end: before any fault (the baseline) and after each heal (the recovery)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from forecourt_chaos.adapters.databases import Reader
from forecourt_chaos.adapters.services import Service
from forecourt_chaos.domain.accounting import SentLead
from forecourt_chaos.domain.plan import Batch, Plan
from forecourt_chaos.service_layer.load import Sender
from forecourt_chaos.service_layer.stack import Stack

POLL_S = 0.25


@dataclass(frozen=True)
class Seen:
    posted_at: float  # monotonic
    accepted_at: float | None = None  # intake answered 202
    visible_at: float | None = None  # every reader has it
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.visible_at is None else round(self.visible_at - self.posted_at, 3)


class Prober:
    def __init__(
        self, stack: Stack, sender: Sender, plan: Plan, tenants: Sequence[str], seed: int
    ) -> None:
        self._stack = stack
        self._sender = sender
        self._plan = plan
        self._tenants = list(tenants)
        self._rng = random.Random(seed)
        self.sent: list[SentLead] = []

    async def probe(self, wait_s: float) -> Seen:
        posted = time.monotonic()
        deadline = posted + wait_s
        lead = self._plan.probe(self._rng.choice(self._tenants))
        sent, answer = await self._sender.send(Batch("probe", lead.tenant, (lead,)))
        self.sent.extend(sent)
        if answer.kind != "ok":
            return Seen(posted, error=f"probe not accepted ({answer.label})")
        accepted = time.monotonic()
        lead_id = str(answer.body["lead_id"])
        readers = [(s, r) for s, r in self._stack.readers() if r is not None]
        while time.monotonic() < deadline:
            if await self._seen_everywhere(readers, lead_id):
                return Seen(posted, accepted, time.monotonic())
            await asyncio.sleep(POLL_S)
        return Seen(posted, accepted, error=f"probe not seen in {wait_s:.0f}s")

    async def _seen_everywhere(self, readers: list[tuple[Service, Reader]], lead_id: str) -> bool:
        for service, reader in readers:
            try:
                conn = await self._stack.connect(service)
            except Exception:
                return False
            try:
                seen = await reader.has_lead(conn, lead_id)
            except Exception:
                seen = False
            finally:
                await conn.close()
            if seen is False:
                return False
        return True

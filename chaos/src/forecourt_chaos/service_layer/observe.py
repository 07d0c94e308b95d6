"""After the load: drain (bounded), then read back everything the accounting needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from forecourt_chaos.adapters import broker, logs
from forecourt_chaos.adapters.databases import (
    bulk_jobs,
    outbox_backlog,
    raw_payloads,
    relay_lags,
)
from forecourt_chaos.domain.accounting import Observed
from forecourt_chaos.service_layer.stack import Stack

QUIET_CHECKS = 2  # consecutive empty looks before the system counts as drained


def is_work_queue(name: str, stack: Stack) -> bool:
    return not (name.endswith(".dlq") or name in (stack.topology.unrouted_name, broker.AUDIT_QUEUE))


async def _inside(stack: Stack) -> dict[str, int]:
    """Work inside the services: unpublished outbox rows, intake's pending raw payloads and
    open bulk jobs."""
    left = {}
    for service, reader in stack.readers():
        conn = await stack.connect(service)
        try:
            if n := await outbox_backlog(conn):
                left[f"{service.name} outbox"] = n
            if reader is not None:
                for kind, n in (await reader.backlog(conn)).items():
                    if n:
                        left[f"{service.name} {kind}"] = n
        finally:
            await conn.close()
    return left


async def backlog(stack: Stack, queues: list[str] | None = None) -> dict[str, int]:
    """Work not done yet: in the services, and messages in work queues. With `queues`, their
    ready messages are read cheaply first, and rabbitmqctl (ready and unacknowledged, but a
    second of CPU a call) is asked only once all else looks done."""
    left = await _inside(stack)
    if queues:
        ready = await broker.ready_counts(stack.rabbit.amqp_url, queues)
        left |= {f"queue {name}": n for name, n in ready.items() if n}
    if not left:
        depths = await stack.queue_depths()
        left = {f"queue {n}": c for n, c in depths.items() if c and is_work_queue(n, stack)}
    return left


@dataclass
class Drain:
    seconds: float
    complete: bool
    left: dict[str, int] = field(default_factory=dict)


async def drain(
    stack: Stack, wait_s: float, poll_s: float = 1.0, say: Callable[[str], None] | None = None
) -> Drain:
    started = time.monotonic()
    quiet = 0
    left: dict[str, int] = {}
    queues: list[str] | None = None
    while True:
        try:
            if queues is None:
                queues = [n for n in await stack.queue_depths() if is_work_queue(n, stack)]
            left = await backlog(stack, queues)
        except Exception as exc:  # a dependency still coming back
            left = {f"unreadable: {type(exc).__name__}": 1}
        quiet = 0 if left else quiet + 1
        elapsed = time.monotonic() - started
        if say is not None and left:
            say(f"  draining, {elapsed:.0f}s: " + ", ".join(f"{k} {v}" for k, v in left.items()))
        if quiet >= QUIET_CHECKS:
            return Drain(round(elapsed, 1), True)
        if elapsed > wait_s:
            return Drain(round(elapsed, 1), False, left)
        await asyncio.sleep(poll_s)


@dataclass
class Readback:
    observed: Observed
    queues: dict[str, int]
    raw_payloads: dict[str, int]
    bulk_jobs: dict[str, int]
    relay_lag_s: dict[str, list[float]]  # per service: commit -> broker confirm, per event
    log_signals: dict[str, dict[str, int]]  # per service: deadlocks, failed starts, errors


async def read_back(stack: Stack) -> Readback:
    observed = Observed(broker=[])
    raw: dict[str, int] = {}
    jobs: dict[str, int] = {}
    lags: dict[str, list[float]] = {}
    for service, reader in stack.readers():
        conn = await stack.connect(service)
        try:
            lags[service.name] = await relay_lags(conn)
            if reader is None:
                continue
            await reader.observe(conn, observed)
            if service.name == "intake":
                raw, jobs = await raw_payloads(conn), await bulk_jobs(conn)
        finally:
            await conn.close()
    queues = await stack.queue_depths()
    dlqs = sorted(n for n, count in queues.items() if n.endswith(".dlq") and count)
    url = stack.rabbit.amqp_url
    letters = await broker.read_all(url, dlqs)
    observed.dead_letters = broker.dead_letters(letters, stack.topology.intake_raw_queue_name)
    observed.broker = broker.audit_events(await broker.read_all(url, [broker.AUDIT_QUEUE]))
    found = logs.signals(stack.cleanup.workdir / "services")
    return Readback(observed, queues, raw, jobs, lags, found)

"""Messages over `connections` SMTP sessions at once (closed loop), each timed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.common.stats import summary_ms
from bench.intake_email.smtp import Sent, Session

SENDER = "leads@marketplace.example"


@dataclass
class Delivery:
    sent: list[Sent]
    errors: list[str]
    started: float
    finished: float

    @property
    def per_s(self) -> float | None:
        wall = self.finished - self.started
        return round(len(self.sent) / wall, 1) if wall > 0 and self.sent else None


async def deliver(
    port: int,
    recipient: str,
    messages: Sequence[bytes],
    connections: int,
    on_done: Callable[[], None] = lambda: None,
    host: str = "127.0.0.1",
) -> Delivery:
    """Every message once; a session that fails is reopened and its message counted an error."""
    next_index = 0
    sent: list[Sent] = []
    errors: list[str] = []

    async def worker() -> None:
        nonlocal next_index
        session = Session(host, port)
        await session.open()
        try:
            while next_index < len(messages):
                index = next_index
                next_index += 1
                try:
                    sent.append(await session.send(index, SENDER, recipient, messages[index]))
                except Exception as exc:
                    errors.append(repr(exc)[:300])
                    await session.close()
                    session = Session(host, port)
                    await session.open()
                on_done()
        finally:
            await session.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(min(connections, len(messages)))))
    return Delivery(sent, errors, started, time.monotonic())


def summarise(delivery: Delivery) -> dict[str, object]:
    return {
        "messages": len(delivery.sent),
        "errors": len(delivery.errors),
        "first_errors": delivery.errors[:3],
        "seconds": round(delivery.finished - delivery.started, 2),
        "accepted_per_s": delivery.per_s,
        "data_end_to_250_ms": summary_ms([s.answered - s.data_end for s in delivery.sent]),
        "mail_to_250_ms": summary_ms([s.answered - s.started for s in delivery.sent]),
    }

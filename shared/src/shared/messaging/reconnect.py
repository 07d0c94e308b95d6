"""Broker connections that come back within about a second of the broker.

aio-pika's robust connection (under faststream's broker and the outbox relay) tries again at
once when its connection drops, then every `reconnect_interval`: 5 s by default, fixed, so a
replica came back up to 5 s after the broker did, and a try that failed while restoring the
channels (a restarted node answers before its quorum queues are up: RabbitMQ may answer a
declare with 404 "... due to timeout") cost 5 s more. Here the wait is `RECONNECT_SECONDS`,
+-50% at random, so replicas do not all knock at the same instant, and a line at WARNING says
when the link went and how long it took to come back with its channels and consumers restored
(in the chaos runs: ~1 s after the node for a relay, 3-15 s for a service whose queues are
declared, bound and consumed again one after another).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace
from typing import Any

from aio_pika import RobustConnection
from aio_pika.abc import TimeoutType
from aio_pika.connection import make_url

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0  # mean wait between tries while the broker does not answer
JITTER = 0.5  # each wait is RECONNECT_SECONDS x (1 +- JITTER)


def reconnect_delay(base: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try: `base` +- JITTER of it, never above `base * (1 + JITTER)`."""
    return base * (1.0 + (rng or random).uniform(-JITTER, JITTER))


class QuickReconnect(RobustConnection):
    """A robust connection waiting `reconnect_delay(reconnect_interval)` between tries, and
    logging when it is lost and when it is back (channels and consumers restored)."""

    # Its default `reconnect_interval` is ours, not aio-pika's 5 s.
    PARAMETERS = tuple(
        replace(p, default=str(RECONNECT_SECONDS)) if p.name == "reconnect_interval" else p
        for p in RobustConnection.PARAMETERS
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._base_interval = RECONNECT_SECONDS
        self._lost_at: float | None = None
        super().__init__(*args, **kwargs)

    @property
    def reconnect_interval(self) -> float:
        """Read by aio-pika before each wait: a fresh jittered value every time."""
        return reconnect_delay(self._base_interval)

    @reconnect_interval.setter
    def reconnect_interval(self, value: TimeoutType) -> None:
        # aio-pika sets it from the `reconnect_interval` argument (or URL parameter).
        self._base_interval = float(value) if value else RECONNECT_SECONDS

    @property
    def base_interval(self) -> float:
        return self._base_interval

    async def _on_connection_close(self, closing: Any) -> None:
        # `connected`: it was up (a failed try to connect closes too, and is no news).
        if not self._close_called and self.connected.is_set() and self._lost_at is None:
            self._lost_at = time.monotonic()
            log.warning("broker connection lost; reconnecting every ~%.1fs", self._base_interval)
        await super()._on_connection_close(closing)

    async def _on_connected(self) -> None:
        await super()._on_connected()  # raises if a channel could not be restored
        if self._lost_at is not None:
            log.warning(
                "broker connection back after %.1fs, channels and consumers restored",
                time.monotonic() - self._lost_at,
            )
            self._lost_at = None


async def connect(
    url: str, *, connect_timeout: float | None = None, reconnect_seconds: float = RECONNECT_SECONDS
) -> QuickReconnect:
    """A `QuickReconnect` connection, connected. One that fails to connect is closed at once
    (aio-pika would leave it to the garbage collector, which closes it on whatever loop runs
    then: an error logged in the relay's thread)."""
    connection = QuickReconnect(make_url(url), reconnect_interval=reconnect_seconds)
    try:
        await connection.connect(timeout=connect_timeout)
    except BaseException:
        await connection.close()
        raise
    return connection

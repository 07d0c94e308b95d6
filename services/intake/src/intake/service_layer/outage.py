"""Noticing a database outage, so the payloads it left pending are taken up when it ends.

A request whose raw payload was kept but whose processing met the outage answered 503; its
payload stays pending. The stale sweep would take it after INTAKE_STALE_RAW_SECONDS; once the
database answers again, the sweeper takes every payload received before that moment at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from shared.http import database_unavailable

log = logging.getLogger(__name__)


class OutageWatch:
    def __init__(self) -> None:
        self._seen = asyncio.Event()

    def saw(self, exc: BaseException) -> None:
        """Called with an error met while processing; remembers it if it is an outage."""
        if database_unavailable(exc) and not self._seen.is_set():
            log.warning("database unavailable: pending payloads are taken up when it is back")
            self._seen.set()

    @property
    def seen(self) -> bool:
        return self._seen.is_set()

    async def wait(self, seconds: float) -> bool:
        """True as soon as an outage is seen, False after `seconds` without one."""
        try:
            await asyncio.wait_for(self._seen.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def until_over(self, probe: Callable[[], Awaitable[object]], every: float = 1.0) -> None:
        """Wait until `probe()` (a query) succeeds, then forget the outage."""
        while True:
            try:
                await probe()
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                await asyncio.sleep(every)
                continue
            self._seen.clear()
            return

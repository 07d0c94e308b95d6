"""Wake on PostgreSQL NOTIFY: what the outbox relay and the timer runner both listen with."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

log = logging.getLogger(__name__)


async def listen(dsn: str, channel: str, wake: asyncio.Event, stopping: asyncio.Event) -> None:
    """Set `wake` on every NOTIFY on `channel` until `stopping` is set; reconnect if the
    database restarts. `dsn` is a plain asyncpg one (`shared.db.asyncpg_dsn`)."""
    while not stopping.is_set():
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(channel, lambda *_: wake.set())
            # NOTIFYs arrive on the callback; wake every few seconds to notice a dead link.
            while not conn.is_closed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 5.0)
                if stopping.is_set():
                    return
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("listener on %s: %r; reconnecting", channel, exc)
            await asyncio.sleep(1.0)
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()

"""Read the plan PostgreSQL really ran for a statement: auto_explain, sent to this client.

For tests that a query probes its index even on stale statistics or a cached plan.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def send_plans_to(
    conn: AsyncConnection,
    plans: list[str],
    *,
    this_transaction_only: bool = False,
    fmt: Literal["text", "json"] = "text",
) -> None:
    """From now on, the plan of every statement run on `conn`'s database connection is appended
    to `plans`. `this_transaction_only`: SET LOCAL, else for the whole session (for code that
    opens its own transactions on a pool of one connection)."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    driver.add_log_listener(lambda _c, m: plans.append(m.message))
    scope = "LOCAL " if this_transaction_only else ""
    await conn.execute(text("LOAD 'auto_explain'"))
    for name, value in (("log_min_duration", "0"), ("log_level", "notice"), ("log_format", fmt)):
        await conn.execute(text(f"SET {scope}auto_explain.{name} = {value}"))

"""Database helpers: engines, creating a service's own database, running its migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

# Run first in the transaction of a claim that walks a partial index in order (the outbox's
# pending rows). A session keeps the plan it made while the table was empty (a
# bitmap scan, then a sort of every pending row) while the table grows, and with autovacuum off
# or behind no ANALYZE ever replaces it: measured, a relay then took 2.5 s per claim with 500,000
# events pending and fell to ~200 events/s. For this transaction only, so other queries keep
# the planner's choice.
CLAIM_BY_INDEX = text(
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"
)


# The pool of a service's engine unless its settings say otherwise (`<SERVICE>_DB_POOL_SIZE`,
# `<SERVICE>_DB_MAX_OVERFLOW`): at most 7 connections.
POOL_SIZE = 5
MAX_OVERFLOW = 2


def create_engine(
    url: str,
    *,
    pool_size: int = POOL_SIZE,
    max_overflow: int = MAX_OVERFLOW,
    pool_timeout: float = 30.0,
) -> AsyncEngine:
    """An engine holding at most `pool_size + max_overflow` connections; a caller beyond them
    waits for one (up to `pool_timeout` seconds, then `sqlalchemy.exc.TimeoutError`: an error,
    not an outage). Consumers never get there: they run no more handlers at once than
    `pool_size` (shared.messaging.slots)."""
    # No pool_pre_ping: it costs a round trip (BEGIN/ROLLBACK) on every checkout, ~8 per lead
    # in intake. A connection the database dropped fails one statement and is discarded.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The plain `postgresql://` DSN asyncpg wants, from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it does not exist. Returns True if it created it.

    Each service owns its database and creates it at start, so a fresh machine needs no manual
    step. Two replicas starting at once may race: the loser sees DuplicateDatabaseError, or,
    when both passed the catalogue check together, a unique violation on pg_database's name
    index (found by the chaos harness: the replica exited at start).
    """
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise ValueError(f"no database name in {parsed.render_as_string()}")
    admin = asyncpg_dsn(parsed.set(database="postgres").render_as_string(hide_password=False))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            # Identifiers cannot be parameters; quote it ourselves.
            await conn.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            return False
        return True
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = asyncpg_dsn(parsed.set(database="postgres").render_as_string(hide_password=False))
    conn = await asyncpg.connect(admin)
    try:
        name = (parsed.database or "").replace('"', '""')
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def alembic_config(alembic_ini: Path, url: str) -> Config:
    cfg = Config(str(alembic_ini))
    cfg.set_main_option("script_location", str(alembic_ini.parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def migrate(alembic_ini: Path, url: str) -> None:
    """Create the database if needed and upgrade it to head.

    Alembic's async env runs its own event loop, so it runs in a worker thread. A PostgreSQL
    advisory lock inside env.py keeps two replicas from migrating at once.
    """
    await ensure_database(url)
    await asyncio.to_thread(command.upgrade, alembic_config(alembic_ini, url), "head")

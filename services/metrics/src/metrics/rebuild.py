"""Rebuild every projection from the event log: `python -m metrics.rebuild`."""

from __future__ import annotations

import asyncio
import logging
import time

from metrics.config import MetricsSettings
from metrics.entrypoints.http.app import ALEMBIC_INI
from metrics.service_layer.projector import rebuild
from shared.db import create_engine, migrate


async def run(settings: MetricsSettings) -> int:
    await migrate(ALEMBIC_INI, settings.database_url)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return await rebuild(engine)
    finally:
        await engine.dispose()


def main() -> None:
    settings = MetricsSettings()
    logging.basicConfig(level=settings.common.log_level, format="%(asctime)s %(message)s")
    started = time.monotonic()
    count = asyncio.run(run(settings))
    print(f"rebuilt the projections from {count} events in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()

"""Replicas starting together on a fresh server each make sure their database exists: exactly one
creates it, and none fails (the loser of the race saw a unique violation and exited at start)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import make_url

from shared.db import drop_database, ensure_database

pytestmark = pytest.mark.integration


async def test_replicas_racing_to_create_their_database_all_start(
    pg_server_url: str, run_id: str
) -> None:
    name = f"fc_test_{run_id}_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    try:
        for _ in range(5):  # the race is not certain on one try: several rounds, fresh each time
            created = await asyncio.gather(*(ensure_database(url) for _ in range(8)))
            assert created.count(True) == 1
            await drop_database(url)
    finally:
        await drop_database(url)

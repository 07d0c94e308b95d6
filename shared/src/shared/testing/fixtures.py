"""pytest fixtures every service's tests share (load with `pytest_plugins`).

Real services only: PostgreSQL and RabbitMQ come from the environment
(`FORECOURT_TEST_DATABASE_URL`, `FORECOURT_TEST_AMQP_URL`), else from testcontainers where a Docker
engine answers, else the local defaults. A missing service is an error, never a skip. Each run
gets its own databases and a name prefix for exchanges and queues, removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from shared.db import drop_database, ensure_database
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.services import delete_names

LOCAL_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def _docker_available() -> bool:
    if os.environ.get("FORECOURT_TEST_NO_CONTAINERS") or not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0  # noqa: S607
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL server (database part ignored)."""
    if url := os.environ.get("FORECOURT_TEST_DATABASE_URL"):
        yield url
    elif _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver="asyncpg") as pg:
            yield pg.get_connection_url()
    else:
        yield LOCAL_PG


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    if url := os.environ.get("FORECOURT_TEST_AMQP_URL"):
        yield url
    elif _docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13") as rabbit:
            params = rabbit.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
    else:
        yield LOCAL_AMQP


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def database_url(pg_server_url: str, run_id: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"fc_test_{run_id}_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    await ensure_database(url)
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture
async def topology(amqp_url: str) -> AsyncIterator[Topology]:
    """A topology whose names are unique to this test; its queues are deleted afterwards."""
    names: set[str] = set()
    topo = Topology(namespace=f"t{uuid.uuid4().hex[:10]}.", delivery_limit=5, record=names)
    yield topo
    await delete_names(amqp_url, topo, names)


@pytest.fixture
def common_settings(amqp_url: str, topology: Topology) -> CommonSettings:
    return CommonSettings(
        amqp_url=amqp_url,
        namespace=topology.namespace,
        delivery_limit=topology.delivery_limit,
        jwt_secret=SecretStr("test-secret-of-at-least-thirty-two-bytes!"),
    )

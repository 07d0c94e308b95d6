"""`make up`'s preflight against the real servers: one check per server, all of them awaited."""

from __future__ import annotations

import gc
import os
import subprocess
import warnings
from typing import Any

import pytest

from crm_queue.config import CrmQueueSettings
from intake.config import IntakeSettings
from scripts import up
from scripts.catalogue import select
from scripts.up import Problem, preflight
from shared.settings import CommonSettings, ServiceSettings
from shared.testing.ports import free_port
from shared.testing.services import console_script

pytestmark = pytest.mark.integration


async def test_services_sharing_servers_are_checked_without_a_coroutine_left_unawaited(
    pg_server_url: str, amqp_url: str
) -> None:
    common = CommonSettings(amqp_url=amqp_url, env="development")
    intake, crm = select(["intake", "crm-queue"])
    services = [
        (intake, IntakeSettings(database_url=pg_server_url, common=common, http_port=free_port())),
        (crm, CrmQueueSettings(database_url=pg_server_url, common=common, http_port=free_port())),
    ]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        await preflight(services)
        gc.collect()  # an unawaited coroutine warns when it is collected
    assert [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)] == []


async def test_preflight_refuses_the_development_key_outside_development(
    pg_server_url: str, amqp_url: str
) -> None:
    (intake,) = select(["intake"])
    settings = IntakeSettings(
        database_url=pg_server_url,
        common=CommonSettings(amqp_url=amqp_url, env="production"),
        http_port=free_port(),
    )
    with pytest.raises(Problem, match="intake: FORECOURT_JWT_SECRET is the development key"):
        await preflight([(intake, settings)])


def test_a_service_process_refuses_to_start_with_the_development_key() -> None:
    """The console script, as a container runs it, without FORECOURT_ENV or a key: it exits
    before it touches the database (the URL points nowhere) or listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORECOURT_", "INTAKE_"))}
    env["INTAKE_DATABASE_URL"] = "postgresql+asyncpg://nobody@127.0.0.1:1/nothing"
    env["INTAKE_HTTP_PORT"] = str(free_port())
    result = subprocess.run(
        console_script("intake"), env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "refusing to start: FORECOURT_JWT_SECRET is the development key" in result.stderr


async def test_make_up_runs_the_services_in_development_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make up` on a developer's machine: the development key is accepted, because up.py
    sets FORECOURT_ENV=development for the services it loads and starts."""
    monkeypatch.setenv("FORECOURT_ENV", "production")  # restored afterwards, as it was
    monkeypatch.delenv("FORECOURT_ENV")
    monkeypatch.delenv("FORECOURT_JWT_SECRET", raising=False)
    seen: list[str] = []

    async def stop_before_starting(services: list[tuple[Any, ServiceSettings]]) -> None:
        seen.extend(settings.common.env for _, settings in services)
        raise Problem("stopping here")

    monkeypatch.setattr(up, "preflight", stop_before_starting)
    assert await up.run(["intake"]) == 2
    assert seen == ["development"]
    assert os.environ["FORECOURT_ENV"] == "development"  # what the processes would inherit

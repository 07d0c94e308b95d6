"""`forecourt-intake` as ops run it, several processes: HTTP workers (`INTAKE_WORKERS`), each
with its outbox relay in a child process (`INTAKE_RELAY_MODE=process`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any, cast

import httpx
import psutil
import pytest
from faststream.rabbit import RabbitBroker

from intake.entrypoints import amqp
from shared.auth import issue_token
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.ports import free_port
from tests.integration.intake.conftest import probe

pytestmark = [pytest.mark.integration, pytest.mark.processes]


async def _ready(base_url: str, process: subprocess.Popen[bytes], within: float = 60) -> None:
    async with asyncio.timeout(within), httpx.AsyncClient(base_url=base_url) as client:
        while True:
            assert process.poll() is None, "the service exited at start"
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)


def _workers_with_a_relay(pid: int) -> list[psutil.Process]:
    """The service's children (not multiprocessing's resource tracker) that have a child."""
    found = []
    for child in psutil.Process(pid).children():
        try:  # a short-lived helper may be gone between the listing and the look
            if "resource_tracker" not in " ".join(child.cmdline()) and child.children():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


async def test_workers_each_with_a_relay_process_serve_and_stop_cleanly(
    database_url: str, amqp_url: str, common_settings: CommonSettings, topology: Topology
) -> None:
    # The names the service will declare, so the topology fixture deletes them afterwards.
    for queue in amqp.register(RabbitBroker(), topology, *(cast(Any, None),) * 3):
        topology.dead_letter_queue(queue)
    topology.unrouted_queue()
    connection, events = await probe(amqp_url, topology)
    port = free_port()
    env = os.environ | {
        "INTAKE_DATABASE_URL": database_url,
        "INTAKE_HTTP_PORT": str(port),
        "INTAKE_WORKERS": "2",
        "INTAKE_RELAY_MODE": "process",
        "FORECOURT_AMQP_URL": amqp_url,
        "FORECOURT_NAMESPACE": topology.namespace,
        "FORECOURT_DELIVERY_LIMIT": str(topology.delivery_limit),
        "FORECOURT_JWT_SECRET": common_settings.jwt_secret.get_secret_value(),
        "FORECOURT_LOG_LEVEL": "WARNING",
    }
    service = subprocess.Popen([sys.executable, "-m", "intake.main"], env=env)  # noqa: ASYNC220
    family: list[psutil.Process] = []
    try:
        await _ready(f"http://127.0.0.1:{port}", service)
        # Two workers, each the parent of its relay process.
        async with asyncio.timeout(30):
            while len(workers := _workers_with_a_relay(service.pid)) < 2:
                await asyncio.sleep(0.3)
        assert len(workers) == 2
        family = psutil.Process(service.pid).children(recursive=True)

        token = issue_token(common_settings, subject="t", role="admin", tenant="acme")
        admin = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r = await client.post(
                "/v1/admin/dealerships",
                json={"name": "North", "country": "CA", "timezone": "America/Toronto"},
                headers=admin,
            )
            r = await client.post(
                "/v1/admin/sources",
                json={"name": "site", "kind": "website", "dealership_id": r.json()["id"]},
                headers=admin,
            )
            key = r.json()["api_key"]
            lead_ids = []
            for i in range(6):  # spread over the workers by the kernel
                r = await client.post(
                    "/v1/leads",
                    json={"first_name": "Ann", "email": f"ann.{i}@example.com"},
                    headers={"X-Api-Key": key},
                )
                assert r.status_code == 202, r.text
                lead_ids.append(r.json()["lead_id"])
        ingested = await events.wait_for("lead.ingested", n=6, within=30)
        assert sorted(e["lead_id"] for e in ingested) == sorted(lead_ids)
    finally:
        service.send_signal(signal.SIGINT)
        try:
            code = await asyncio.to_thread(service.wait, 30)
        except subprocess.TimeoutExpired:
            service.kill()
            raise
        finally:
            await connection.close()
    assert code == 0
    # Nothing left behind: the workers and their relays are gone.
    await asyncio.sleep(1.0)
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

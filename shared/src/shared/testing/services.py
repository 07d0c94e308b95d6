"""Forecourt services as OS processes, started the way ops start them (their console script:
migrate, then serve HTTP and consume AMQP), for tests that need the real thing: the HTTP server
(header and body limits, separate event loops) and several services talking over the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import httpx

from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.ports import free_port


def console_script(name: str) -> list[str]:
    """`forecourt-<name>` of the environment running the tests (no `uv` on the PATH needed)."""
    script = Path(sys.executable).parent / f"forecourt-{name}"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", f"{name.replace('-', '_')}.main"]


@dataclass
class ServiceProcess:
    name: str
    base_url: str
    database_url: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        name: str,
        *,
        database_url: str,
        common: CommonSettings,
        env: Mapping[str, str] | None = None,
    ) -> ServiceProcess:
        """`name` (e.g. "crm-queue") on a free port of the loopback, with its own database and
        `common`'s broker, namespace and signing key; `env` adds or overrides variables (its
        own ones without the prefix: `{"RELAY_MODE": "thread"}`). Output goes to a log file."""
        prefix = name.replace("-", "_").upper() + "_"
        port = free_port()
        variables = {
            f"{prefix}DATABASE_URL": database_url,
            f"{prefix}HTTP_HOST": "127.0.0.1",
            f"{prefix}HTTP_PORT": str(port),
            "FORECOURT_AMQP_URL": common.amqp_url,
            "FORECOURT_NAMESPACE": common.namespace,
            "FORECOURT_DELIVERY_LIMIT": str(common.delivery_limit),
            "FORECOURT_JWT_SECRET": common.jwt_secret.get_secret_value(),
            "FORECOURT_JWT_AUDIENCE": common.jwt_audience,
            "FORECOURT_JWT_ISSUER": common.jwt_issuer,
            "FORECOURT_LOG_LEVEL": "WARNING",
            # A trickled body or head is given up well within a test's patience (default 30 s).
            "FORECOURT_HTTP_BODY_TIMEOUT_SECONDS": "5",
            "FORECOURT_HTTP_HEADER_TIMEOUT_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        } | {k if k.startswith("FORECOURT_") else prefix + k: v for k, v in (env or {}).items()}
        fd, log_name = tempfile.mkstemp(prefix=f"forecourt-{name}-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            popen = subprocess.Popen(  # noqa: S603 (our own console script)
                console_script(name),
                env=os.environ | variables,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped as a group: its relay process and workers too
            )
        return cls(name, f"http://127.0.0.1:{port}", database_url, popen, Path(log_name))

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, within: float = 90.0) -> None:
        """Until `/readyz` answers 200 (migrated, database and broker connected)."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            try:
                async with asyncio.timeout(within):
                    while True:
                        if self.popen.poll() is not None:
                            raise RuntimeError(
                                f"{self.name} exited with {self.popen.returncode}:\n"
                                + self.log_tail()
                            )
                        with contextlib.suppress(httpx.HTTPError):
                            if (await client.get("/readyz")).status_code == 200:
                                return
                        await asyncio.sleep(0.2)
            except TimeoutError:
                raise TimeoutError(
                    f"{self.name} not ready in {within} s:\n{self.log_tail()}"
                ) from None

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGINT to the process group (uvicorn's graceful stop), SIGKILL past `grace`;
        returns the exit code. The log file is removed."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGINT)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self.log_path.unlink(missing_ok=True)
        return self.popen.returncode


async def delete_names(amqp_url: str, topology: Topology, queues: set[str]) -> None:
    """Delete `queues` and the namespace's exchanges: what a test run declared on a shared
    broker. Quorum queues refuse aio-pika's `if_unused` default, and a refused delete closes
    its channel: one channel per name, several at once (the five services' 81 queues took
    7 s one after the other on a loaded machine)."""
    connection = await aio_pika.connect(amqp_url)
    gate = asyncio.Semaphore(16)

    async def delete(name: str) -> None:
        async with gate:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name, if_unused=False, if_empty=False)
            with contextlib.suppress(Exception):
                await channel.close()

    try:
        await asyncio.gather(*(delete(name) for name in sorted(queues)))
        channel = await connection.channel()
        for exchange in (
            topology.events_exchange_name,
            topology.dead_letter_exchange_name,
            topology.unrouted_name,
        ):
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()

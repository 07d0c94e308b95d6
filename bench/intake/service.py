"""The intake service as a separate process (`uv run forecourt-intake`), set up over its API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from pydantic import SecretStr

from shared.auth import issue_token
from shared.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class IntakeProcess:
    popen: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @classmethod
    def start(
        cls, *, database_url: str, amqp_url: str, namespace: str, jwt_secret: str
    ) -> IntakeProcess:
        port = free_port()
        env = os.environ | {
            "INTAKE_DATABASE_URL": database_url,
            "INTAKE_HTTP_PORT": str(port),
            "FORECOURT_AMQP_URL": amqp_url,
            "FORECOURT_NAMESPACE": namespace,
            "FORECOURT_JWT_SECRET": jwt_secret,
            "FORECOURT_LOG_LEVEL": "WARNING",
        }
        log = Path(tempfile.mkstemp(prefix="bench-intake-", suffix=".log")[1])
        with log.open("wb") as out:
            popen = subprocess.Popen(
                ["uv", "run", "forecourt-intake"],  # noqa: S607
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(popen, f"http://127.0.0.1:{port}", log)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_healthy(self, wait_s: float = 120.0) -> None:
        deadline = time.monotonic() + wait_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    raise RuntimeError(
                        f"intake exited with {self.popen.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"intake not healthy after {wait_s}s:\n{self.log_tail()}")

    def python_process(self) -> psutil.Process:
        """The Python process serving (uv run's child), not uv itself."""
        root = psutil.Process(self.popen.pid)
        with contextlib.suppress(psutil.Error):
            for child in root.children(recursive=True):
                # A script run through its shebang is named after the script, not "python".
                if any("python" in part or "forecourt-intake" in part for part in child.cmdline()):
                    return child
        return root

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT to uv (which forwards it), then SIGKILL to uv and its own children."""
        if self.popen.poll() is not None:
            return
        try:
            children = psutil.Process(self.popen.pid).children(recursive=True)
        except psutil.Error:
            children = []
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.wait(timeout=5)
            with contextlib.suppress(psutil.Error):
                if child.is_running():
                    child.kill()


@dataclass(frozen=True)
class Tenant:
    name: str
    dealership_id: str
    source_id: str
    api_key: str


async def create_tenant(base_url: str, jwt_secret: str, tenant: str) -> Tenant:
    """A dealership in Canada and a marketplace lead source, through the admin API."""
    settings = CommonSettings(jwt_secret=SecretStr(jwt_secret))
    token = issue_token(settings, subject="bench", role="admin", tenant=tenant)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        r = await client.post(
            "/v1/admin/dealerships",
            json={
                "name": f"bench-{uuid.uuid4().hex[:6]}",
                "country": "CA",
                "timezone": "America/Toronto",
            },
        )
        r.raise_for_status()
        dealership_id = str(r.json()["id"])
        body: dict[str, Any] = {
            "name": f"bench-{uuid.uuid4().hex[:6]}",
            "kind": "marketplace",
            "dealership_id": dealership_id,
            "cost_per_lead": "15.00",
            "currency": "CAD",
        }
        r = await client.post("/v1/admin/sources", json=body)
        r.raise_for_status()
        source = r.json()
    return Tenant(tenant, dealership_id, str(source["id"]), str(source["api_key"]))

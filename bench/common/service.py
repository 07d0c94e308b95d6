"""A Forecourt service as a separate process (its `forecourt-<name>` script), waited on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx
import psutil

from shared.testing.ports import free_port
from shared.testing.services import console_script

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    name: str  # e.g. "intake": the script is forecourt-<name>
    popen: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    # Set by each service's subclass: its script is forecourt-<SERVICE>, its settings <PREFIX>_*.
    SERVICE: ClassVar[str]
    ENV_PREFIX: ClassVar[str]

    @classmethod
    def start(
        cls,
        *,
        database_url: str,
        amqp_url: str,
        namespace: str,
        jwt_secret: str,
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """The service on a free port, against its own database and a namespaced topology;
        `env` adds or overrides settings (e.g. RECOVERY_RUN_SCANNER=false)."""
        return cls.start_as(
            cls.SERVICE,
            cls.ENV_PREFIX,
            database_url=database_url,
            amqp_url=amqp_url,
            namespace=namespace,
            jwt_secret=jwt_secret,
            env=env,
        )

    @classmethod
    def start_as(
        cls,
        name: str,
        env_prefix: str,
        *,
        database_url: str,
        amqp_url: str,
        namespace: str,
        jwt_secret: str,
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """`start` for service `name` (settings `<env_prefix>_*`) without a subclass of its
        own: bench/system starts every service of the catalogue this way."""
        port = free_port()
        settings = {
            f"{env_prefix}_DATABASE_URL": database_url,
            f"{env_prefix}_HTTP_PORT": str(port),
            "FORECOURT_AMQP_URL": amqp_url,
            "FORECOURT_NAMESPACE": namespace,
            "FORECOURT_JWT_SECRET": jwt_secret,
            "FORECOURT_LOG_LEVEL": "WARNING",
        }
        return cls.launch(name, settings | dict(env or {}), port)

    @classmethod
    def launch(cls, name: str, env: Mapping[str, str], port: int) -> Self:
        """`forecourt-<name>` of this environment (no `uv` on the PATH needed), from the
        workspace root, with `env` over this process's environment, listening on `port`; its
        output goes to a temporary log file."""
        log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 (our own script name)
                console_script(name),
                cwd=ROOT,
                env=os.environ | dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(name, popen, f"http://127.0.0.1:{port}", log)

    def log_counts(self) -> dict[str, Any]:
        """Handler retries, dead letters and ERROR lines in the service's log so far."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return {"path": str(self.log_path)}
        return {
            "path": str(self.log_path),
            "retries": text.count("will retry"),
            "dead_lettered": text.count("dead-lettered"),
            "errors": sum(1 for line in text.splitlines() if " ERROR " in line),
        }

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
                        f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy after {wait_s}s:\n{self.log_tail()}")

    def python_process(self) -> psutil.Process:
        """The Python process serving (the script itself, or its child)."""
        root = psutil.Process(self.popen.pid)
        script = f"forecourt-{self.name}"
        with contextlib.suppress(psutil.Error):
            # The script run directly is the service; its children (a relay process) are not
            # it: picking one of them would leave the service out of the meters.
            if any("python" in part or script in part for part in root.cmdline()):
                return root
            for child in root.children(recursive=True):
                # A script run through its shebang is named after the script, not "python".
                if any("python" in part or script in part for part in child.cmdline()):
                    return child
        return root

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT to the service, then SIGKILL to it and its own children."""
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

"""The services as processes, several replicas each, as `make up` runs them: the console script
of the catalogue (`scripts/catalogue.py`), its settings from the environment.

Each replica has its own HTTP port and shares its service's database; every replica reaches
the broker and the database through the harness's proxies. A replica starts its own session,
so a Ctrl-C at the terminal reaches only the harness, which stops everything itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from forecourt_chaos import repo
from forecourt_chaos.adapters.cleanup import MARKER, kill_group
from shared.testing.ports import free_port

repo.importable()
from scripts.catalogue import Service, select  # noqa: E402

MIB = 1 << 20
# Settings a developer's shell may hold that must not leak into the private services.
_FOREIGN_PREFIXES = ("FORECOURT_",)

__all__ = ["MIB", "Replica", "Service", "select"]


def _clean_environment(services: list[Service]) -> dict[str, str]:
    prefixes = _FOREIGN_PREFIXES + tuple(s.env_prefix for s in services)
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes) or k == MARKER}


def executable(command: str) -> str:
    """The console script from the environment running the harness (as `make up` finds it)."""
    candidate = Path(sys.executable).parent / command
    return str(candidate) if candidate.exists() else command


@dataclass
class Exit:
    """A replica that ended without being asked to: its exit code and when."""

    replica: str
    code: int | None
    at: float
    when: str = ""  # "at start", "while running"


@dataclass
class Replica:
    service: Service
    index: int
    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    killing: bool = False  # a kill by the harness is not an exit to report

    @classmethod
    def make(
        cls,
        service: Service,
        index: int,
        *,
        services: list[Service],
        database_url: str,
        amqp_url: str,
        common: Mapping[str, str],
        logs: Path,
    ) -> Replica:
        replica = cls(service, index, {}, logs)
        prefix = service.env_prefix
        replica.env = (
            _clean_environment(services)
            | dict(common)
            | {
                f"{prefix}DATABASE_URL": database_url,
                f"{prefix}HTTP_HOST": "127.0.0.1",
                f"{prefix}HTTP_PORT": str(replica.port),
                "FORECOURT_AMQP_URL": amqp_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return replica

    @property
    def name(self) -> str:
        return f"{self.service.name}-{self.index}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        self.starts += 1
        self.killing = False
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{self.name}-{self.starts}.log").open("wb")
        with log:
            self.popen = subprocess.Popen(  # noqa: S603 (the catalogue's own script)
                [executable(self.service.command)],
                cwd=repo.ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def family(self) -> list[psutil.Process]:
        """The replica's processes: the service, its HTTP workers, its relay process."""
        if self.popen is None:
            return []
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def kill(self) -> tuple[int | None, list[psutil.Process]]:
        """kill -9 of the service's process alone, as a crash would; returns its pid and the
        children it leaves (its relay process must stop by itself)."""
        family = self.family()
        if not family:
            return None, []
        self.killing = True
        with contextlib.suppress(psutil.Error):
            family[0].kill()
        assert self.popen is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        return family[0].pid, family[1:]

    def terminate(self) -> None:
        """SIGTERM to the replica's group: it begins a graceful stop."""
        self.killing = True
        if self.popen is not None and self.popen.poll() is None:
            kill_group(self.popen.pid, signal.SIGTERM)

    def stop(self, deadline: float) -> None:
        """Wait for a terminated replica until `deadline` (monotonic), then SIGKILL its group."""
        if self.popen is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(max(deadline - time.monotonic(), 0.0))
        kill_group(self.popen.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)

    def exited(self) -> Exit | None:
        """An exit nobody asked for, once."""
        if self.popen is None or self.killing or self.popen.poll() is None:
            return None
        self.killing = True  # reported once; the supervisor restarts it
        return Exit(self.name, self.popen.returncode, time.monotonic())

    def memory_mib(self) -> float:
        total = 0
        for process in self.family():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total / MIB

    def open_files(self) -> int:
        total = 0
        for process in self.family():
            with contextlib.suppress(psutil.Error):
                total += process.num_fds()
        return total

    async def healthy(self, http: aiohttp.ClientSession) -> bool:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(f"{self.base_url}/healthz") as r:
                return r.status == 200
        return False

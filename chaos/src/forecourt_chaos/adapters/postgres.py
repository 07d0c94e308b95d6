"""A private PostgreSQL cluster (Debian's postgresql-common: pg_createcluster and friends) on a
port of its own, dropped at the end; the machine's cluster on 5432 is never touched.

Loopback only, trust for local and 127.0.0.1 connections (it lives for one run and holds
generated leads). `fsync=off`: the harness kills processes, never the kernel, so what a
committed transaction wrote is in the page cache and survives an immediate stop; sparing the
disk matters on a shared machine. `--start-conf manual`: nothing starts it but the harness.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg

from forecourt_chaos.adapters.cleanup import Cleanup, drop_cluster
from shared.testing.ports import free_port

# listen_addresses stays at its default, 'localhost': the loopback only.
SETTINGS = {
    "fsync": "off",
    "max_connections": "400",  # replicas x (pool 20 + overflow 20) + relays + the harness
    "shared_buffers": "64MB",
    "autovacuum": "on",  # docs/operations.md: the outbox claim needs it
}


def default_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
    return versions[-1] if versions else "15"


class PostgresError(RuntimeError):
    pass


class PrivateCluster:
    def __init__(self, cleanup: Cleanup, name: str, version: str | None = None) -> None:
        self.name = name
        self.version = version or default_version()
        self.port = free_port()
        self._cleanup = cleanup

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str, port: int | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"

    async def _run(self, *command: str, wait_s: float = 120.0) -> str:
        # Output to a file, not a pipe: the server pg_ctl starts inherits the pipe and would
        # hold it open for as long as it runs.
        out = self._cleanup.workdir / "postgres-commands.log"
        with out.open("ab") as log:
            start = log.tell()
            process = await asyncio.create_subprocess_exec(
                *command,
                env=os.environ | self._cleanup.marker,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                await asyncio.wait_for(process.wait(), wait_s)
            except TimeoutError:
                process.kill()
                raise PostgresError(f"{' '.join(command)}: no answer in {wait_s}s") from None
        with out.open("rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        if process.returncode != 0:
            raise PostgresError(f"{' '.join(command)} failed: {text.strip()[-800:]}")
        return text

    async def create(self) -> None:
        options = [arg for k, v in SETTINGS.items() for arg in ("-o", f"{k}={v}")]
        self._cleanup.track_cluster(self.version, self.name)
        self._cleanup.push(f"PostgreSQL cluster {self.name}", self.drop)
        await self._run(
            "pg_createcluster",
            self.version,
            self.name,
            "--port",
            str(self.port),
            "--start-conf",
            "manual",
            *options,
            "--",
            "--auth=trust",
        )

    async def _ctl(self, *args: str) -> None:
        await self._run(
            "pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, *args
        )

    async def start(self) -> None:
        await self._ctl("start")

    async def running(self) -> bool:
        """The server process is up (it may still be slow to take connections)."""
        try:
            await self._ctl("status")
        except PostgresError:
            return False  # pg_ctlcluster status exits 3 when the cluster is down
        return True

    async def stop_immediate(self) -> None:
        """Stop without a checkpoint: every backend dies, recovery runs at the next start."""
        await self._ctl("stop", "-m", "immediate")

    async def wait_ready(self, wait_s: float = 60.0) -> None:
        async with asyncio.timeout(wait_s):
            while True:
                try:
                    conn = await asyncpg.connect(self.admin_dsn, timeout=5)
                except (OSError, asyncpg.PostgresError, TimeoutError):
                    await asyncio.sleep(0.3)
                    continue
                await conn.close()
                return

    def drop(self) -> None:
        drop_cluster(self.version, self.name)

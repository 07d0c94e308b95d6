"""A private RabbitMQ node: its own name, ports, data and log folders, Erlang cookie and
configuration, so the machine's own node (rabbit@localhost on 5672) is never touched.

Run from RabbitMQ's own scripts folder (`/usr/lib/rabbitmq/bin`), not the `/usr/sbin` wrappers:
as root those switch to the `rabbitmq` user and its cookie, and as the `rabbitmq` user they send
the node's output to the machine node's startup log. The node and every `rabbitmqctl -n` call of
the harness share a HOME in the work folder, hence one cookie of their own. Loopback only: the
AMQP listener and the Erlang distribution bind to 127.0.0.1; plugins (management included) off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import aio_pika
import psutil

from forecourt_chaos.adapters.cleanup import Cleanup, kill_group
from shared.testing.ports import free_port

SCRIPTS = Path(os.environ.get("FORECOURT_CHAOS_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"


class RabbitError(RuntimeError):
    pass


class PrivateRabbit:
    def __init__(self, cleanup: Cleanup, name: str) -> None:
        self.node = f"{name}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self._dir = cleanup.workdir / "rabbitmq"
        home = self._dir / "home"
        for folder in ("home", "mnesia", "log"):
            (self._dir / folder).mkdir(parents=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        (self._dir / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's NODENAME
        (self._dir / "enabled_plugins").write_text("[].\n")  # no management, no prometheus
        (self._dir / "rabbitmq.conf").write_text(
            "loopback_users.guest = true\nlog.file.level = warning\n"
        )
        self._pid_file = self._dir / "beam.pid"
        self.env = (
            os.environ
            | cleanup.marker
            | {
                "HOME": str(home),
                "RABBITMQ_CONF_ENV_FILE": str(self._dir / "rabbitmq-env.conf"),
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self._dir / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self._dir / "log"),
                "RABBITMQ_CONFIG_FILE": str(self._dir / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._dir / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(self._pid_file),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": LOOPBACK_DIST,
                "RABBITMQ_CTL_ERL_ARGS": LOOPBACK_DIST,
            }
        )
        self._server: subprocess.Popen[bytes] | None = None
        self._starts = 0
        cleanup.push(f"RabbitMQ node {self.node}", self.remove)

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Start the node (again); `wait_ready` says when it takes connections."""
        self._starts += 1
        log = (self._dir / "log" / f"server-{self._starts}.log").open("wb")
        with log:
            self._server = subprocess.Popen(  # noqa: S603
                [str(SCRIPTS / "rabbitmq-server")],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our Ctrl-C is ours; the node stops when we say
            )

    async def ctl(self, *args: str, wait_s: float = 60.0) -> str:
        """`rabbitmqctl -n <node> <args>`; raises RabbitError if it fails."""
        process = await asyncio.create_subprocess_exec(
            str(SCRIPTS / "rabbitmqctl"),
            "-n",
            self.node,
            *args,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), wait_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise RabbitError(f"rabbitmqctl {' '.join(args)}: no answer in {wait_s}s") from None
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RabbitError(f"rabbitmqctl {' '.join(args)} failed: {text.strip()[-500:]}")
        return text

    async def answers(self) -> bool:
        """Whether the node takes an AMQP connection now."""
        try:
            connection = await asyncio.wait_for(aio_pika.connect(self.amqp_url), 5)
        except Exception:
            return False
        await connection.close()
        return True

    def vm_running(self) -> bool:
        pid = self.beam_pid()
        return pid is not None and psutil.pid_exists(pid)

    async def wait_ready(self, wait_s: float = 180.0) -> float:
        """Until the node takes AMQP connections; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + wait_s
        while time.monotonic() < deadline:
            if self._server is not None and self._server.poll() is not None:
                raise RabbitError(f"the node exited with {self._server.returncode}")
            if await self.answers():
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        raise RabbitError(f"{self.node} not taking connections after {wait_s}s")

    async def stop_app(self) -> None:
        await self.ctl("stop_app", wait_s=120)

    async def start_app(self) -> None:
        await self.ctl("start_app", wait_s=180)

    def beam_pid(self) -> int | None:
        try:
            return int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self) -> int | None:
        """kill -9 of the node's Erlang VM (the broker crashes); returns its pid."""
        pid = self.beam_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._pid_file.unlink(missing_ok=True)
        return pid

    async def crash(self) -> int | None:
        """`kill()`, then wait (without blocking the load) for the start script to go too."""
        pid = self.kill()
        if self._server is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self._server.wait, 30)
        return pid

    async def queues(self) -> dict[str, int]:
        """Every queue of the node and its messages (ready and unacknowledged)."""
        out = await self.ctl("list_queues", "name", "messages", "-q", "--no-table-headers")
        found = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                found[parts[0]] = int(parts[1])
        return found

    def remove(self) -> None:
        """Stop the node for good (its folders go with the work folder)."""
        if self._server is None or self._server.poll() is not None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(  # noqa: S603
                [str(SCRIPTS / "rabbitmqctl"), "-n", self.node, "shutdown"],
                env=self.env,
                capture_output=True,
                timeout=60,
                check=False,
            )
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._server.wait(10)
        kill_group(self._server.pid)
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._server.wait(10)

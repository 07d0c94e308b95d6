"""`make up`: run every service of the catalogue as a local process, in the foreground.

Checks first that PostgreSQL and RabbitMQ answer, then starts each service (which creates and
migrates its own database), prefixes its log lines with its name, and prints where it listens
once it answers. Ctrl-C (or `make down` from another shell) stops them all; so does one of them
dying. `--stop` is what `make down` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, TextIO
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import typer
from sqlalchemy.engine import make_url

from scripts.catalogue import Service, select
from shared.db import asyncpg_dsn
from shared.settings import ServiceSettings, UnsafeSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
PID_FILE = REPO_ROOT / ".run" / "up.pid"
STOP_GRACE_SECONDS = 25.0  # a service drains its broker for up to 15 s
READY_TIMEOUT_SECONDS = 120.0

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_RABBITMQ = "rabbitmq-server -detached   # then wait ~10 s for it to accept connections"

DEVELOPMENT = "development"

COLOURS = ("36", "35", "33", "32", "34", "31")


class Problem(Exception):
    """Something the developer must fix before the system can start."""


def say(message: str, *, stream: TextIO = sys.stdout) -> None:
    print(f"[up] {message}", file=stream, flush=True)


async def check_postgres(url: str, setting: str) -> None:
    parsed = make_url(url)
    # The service creates its own database: check the server through the maintenance one.
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    try:
        conn = await asyncpg.connect(asyncpg_dsn(admin), timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise Problem(
            f"PostgreSQL does not answer at {where} ({type(exc).__name__}: {exc}).\n"
            f"     Start it:  {START_POSTGRES}\n"
            f"     or point {setting} at a running server."
        ) from exc
    await conn.close()


async def check_rabbitmq(url: str) -> None:
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5672}"
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), 10)
    except Exception as exc:  # aio-pika raises many kinds: refused, auth, timeout
        raise Problem(
            f"RabbitMQ does not answer at {where} ({type(exc).__name__}: {exc}).\n"
            f"     Start it:  {START_RABBITMQ}\n"
            f"     or set FORECOURT_AMQP_URL."
        ) from exc
    await connection.close()


def check_port_free(service: Service, host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        if sock.connect_ex((host, port)) == 0:
            raise Problem(
                f"{service.name}: something already listens on {host}:{port} "
                f"(another `make up`? stop it with `make down`, "
                f"or set {service.env_prefix}HTTP_PORT)."
            )


async def preflight(services: list[tuple[Service, ServiceSettings]]) -> None:
    # One check per server, however many services share it. The coroutines are made only once
    # the servers are known: one made for a server already checked would never be awaited.
    checks: dict[tuple[str, str | None, int | None], Callable[[], Awaitable[None]]] = {}
    for service, settings in services:
        try:
            settings.common.check_safe()  # what the service would refuse to start with
        except UnsafeSettings as exc:
            raise Problem(f"{service.name}: {exc}") from exc
        pg = make_url(settings.database_url)
        setting = f"{service.env_prefix}DATABASE_URL"
        checks.setdefault(
            ("pg", pg.host, pg.port), partial(check_postgres, settings.database_url, setting)
        )
        amqp = urlsplit(settings.common.amqp_url)
        checks.setdefault(
            ("amqp", amqp.hostname, amqp.port), partial(check_rabbitmq, settings.common.amqp_url)
        )
        check_port_free(service, settings.http_host, settings.http_port)
    # aio-pika logs a refused connection itself; the message below says it better.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    results = await asyncio.gather(*(check() for check in checks.values()), return_exceptions=True)
    problems = [r for r in results if isinstance(r, BaseException)]
    if problems:
        raise Problem("\n[up] ".join(str(p) for p in problems))


@dataclass
class Running:
    service: Service
    settings: ServiceSettings
    process: asyncio.subprocess.Process
    colour: str
    pump: asyncio.Task[None] | None = field(default=None)
    port_setting: str | None = None  # a listener: ready once its TCP port accepts

    @property
    def name(self) -> str:
        return self.service.name if self.port_setting is None else self.command

    @property
    def command(self) -> str:
        return self.process_command or self.service.command

    process_command: str | None = None

    @property
    def url(self) -> str:
        host = self.settings.http_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        return f"http://{shown}:{self.settings.http_port}"


def executable(command: str) -> str:
    """The service's console script, from the environment running this script."""
    candidate = Path(sys.executable).parent / command
    return str(candidate) if candidate.exists() else command


async def pump_lines(running: Running, width: int, tty: bool) -> None:
    stream = running.process.stdout
    assert stream is not None
    name = running.name.ljust(width)
    prefix = f"\x1b[{running.colour}m{name} |\x1b[0m " if tty else f"{name} | "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace").rstrip("\n") + "\n")
        sys.stdout.flush()


async def start(
    service: Service,
    settings: ServiceSettings,
    colour: str,
    listener: tuple[str, str] | None = None,
) -> Running:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = listener[0] if listener else service.command
    process = await asyncio.create_subprocess_exec(
        executable(command),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=REPO_ROOT,
        # Its own process group: the terminal's Ctrl-C reaches only us, and we stop it once.
        start_new_session=True,
    )
    if listener is None:
        return Running(service, settings, process, colour)
    return Running(
        service, settings, process, colour, port_setting=listener[1], process_command=command
    )


def issue_admin_command() -> str:
    """How to get an admin token in another shell: the venv's script, so no `uv` on the PATH
    is needed (pip's `--user` uv is often off it)."""
    script = executable("forecourt-token")
    with contextlib.suppress(ValueError):
        script = "./" + str(Path(script).relative_to(Path.cwd()))
    return f"{script} issue --role admin --tenant acme"


def _healthy(url: str) -> bool:
    """Ready, not only alive: /readyz answers 200 once its database and the broker answer
    (503 before), so the banner never points at a service that cannot take a lead yet."""
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _ready(running: Running) -> bool:
    if running.port_setting is None:
        return _healthy(running.url)
    host = str(getattr(running.settings, running.port_setting.replace("port", "host"), ""))
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    return _listening(host, int(getattr(running.settings, running.port_setting)))


async def wait_healthy(running: Running) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if running.process.returncode is not None:
            return False
        if await asyncio.to_thread(_ready, running):
            return True
        await asyncio.sleep(0.5)
    return False


def banner(runs: list[Running]) -> str:
    width = max(len(r.service.name) for r in runs)
    lines = ["", "Forecourt is up:"]
    for r in runs:
        if r.port_setting is None:
            lines.append(
                f"  {r.service.name.ljust(width)}  {r.url}   "
                f"(API docs: {r.url}/docs, OpenAPI: {r.url}/openapi.json)"
            )
        else:
            port = getattr(r.settings, r.port_setting)
            lines.append(f"  {r.name.ljust(width)}  port {port}")
    dashboards = [
        f"{r.url}/dashboard" for r in runs if r.service.name == "metrics" and not r.port_setting
    ]
    if dashboards:
        lines.append(f"The KPI dashboard (log in with a manager's token): {dashboards[0]}")
    lines += [
        "The events each service publishes and consumes (AsyncAPI): docs/asyncapi/<service>.json;",
        "  how an outside system subscribes: docs/subscribers.md",
        "An admin token (staff API, `Authorization: Bearer <token>`):",
        f"  {issue_admin_command()}",
        "Ctrl-C (or `make down`) stops everything.",
        "",
    ]
    return "\n".join(lines)


def signal_group(process: asyncio.subprocess.Process, sig: int) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


async def stop_all(runs: list[Running]) -> None:
    alive = [r for r in runs if r.process.returncode is None]
    if alive:
        say("stopping " + ", ".join(r.name for r in alive))
    for r in alive:
        signal_group(r.process, signal.SIGTERM)
    waits = [asyncio.create_task(r.process.wait()) for r in runs]
    if waits:
        _, pending = await asyncio.wait(waits, timeout=STOP_GRACE_SECONDS)
        if pending:
            for r in runs:
                if r.process.returncode is None:
                    say(f"{r.name} did not stop in {STOP_GRACE_SECONDS:.0f} s: killing it")
                    signal_group(r.process, signal.SIGKILL)
            await asyncio.gather(*pending)
    await asyncio.gather(*(r.pump for r in runs if r.pump is not None), return_exceptions=True)


async def all_healthy(runs: list[Running]) -> bool:
    return all(await asyncio.gather(*(wait_healthy(r) for r in runs)))


async def supervise(runs: list[Running], stop: asyncio.Event) -> int:
    """Until Ctrl-C or a service exits: 0 for a requested stop, 1 when a service failed."""
    stopped = asyncio.create_task(stop.wait())
    exits = {asyncio.create_task(r.process.wait()): r for r in runs}
    ready = asyncio.create_task(all_healthy(runs))
    try:
        done, _ = await asyncio.wait({stopped, ready, *exits}, return_when="FIRST_COMPLETED")
        if ready in done:
            if not ready.result():
                say("a service did not answer on /readyz in time", stream=sys.stderr)
                return 1
            print(banner(runs), flush=True)
            done, _ = await asyncio.wait({stopped, *exits}, return_when="FIRST_COMPLETED")
        died = [exits[t] for t in done if t in exits]
        for r in died:
            say(f"{r.name} exited with code {r.process.returncode}", stream=sys.stderr)
        return 1 if died else 0
    finally:
        for task in (stopped, ready, *exits):
            task.cancel()


async def run(names: list[str] | None) -> int:
    # A developer's machine: the services accept the development signing key (they refuse it
    # elsewhere). An explicit FORECOURT_ENV from the shell wins.
    os.environ.setdefault("FORECOURT_ENV", DEVELOPMENT)
    services = [(s, s.load_settings()) for s in select(names)]
    say("checking PostgreSQL and RabbitMQ")
    try:
        await preflight(services)
    except Problem as exc:
        say(str(exc), stream=sys.stderr)
        return 2

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    PID_FILE.parent.mkdir(exist_ok=True)
    PID_FILE.write_text(f"{os.getpid()}\n")
    width = max(len(n) for s, _ in services for n in (s.name, *(c for c, _ in s.listeners)))
    tty = sys.stdout.isatty()
    runs: list[Running] = []
    try:
        for i, (service, settings) in enumerate(services):
            say(f"starting {service.name} ({service.command})")
            running = await start(service, settings, COLOURS[i % len(COLOURS)])
            running.pump = asyncio.create_task(pump_lines(running, width, tty))
            runs.append(running)
            for listener in service.listeners:
                say(f"starting {listener[0]}")
                running = await start(service, settings, COLOURS[i % len(COLOURS)], listener)
                running.pump = asyncio.create_task(pump_lines(running, width, tty))
                runs.append(running)
        return await supervise(runs, stop)
    finally:
        await stop_all(runs)
        with contextlib.suppress(FileNotFoundError):
            PID_FILE.unlink()


def stop_running() -> int:
    """Stop a `make up` running elsewhere (its pid is in .run/up.pid) and wait for it."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        say("nothing to stop (no .run/up.pid)")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        say(f"process {pid} is gone; removing a stale {PID_FILE.name}")
        PID_FILE.unlink(missing_ok=True)
        return 0
    deadline = time.monotonic() + STOP_GRACE_SECONDS + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            say("stopped")
            return 0
        time.sleep(0.3)
    say(f"process {pid} is still running", stream=sys.stderr)
    return 1


def main(
    services: Annotated[
        list[str] | None, typer.Argument(help="services to start (default: all)")
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="stop a running `make up`")] = False,
) -> None:
    if stop:
        raise typer.Exit(stop_running())
    raise typer.Exit(asyncio.run(run(services)))


if __name__ == "__main__":
    typer.run(main)

"""The services' network: `shared.testing.proxy.TcpProxy`s in front of the private broker and
database, in a process of their own.

Every byte between a service and its broker or database goes through them, so they get their
own event loop and core instead of taking turns with the load generator (whose busy loop would
otherwise add latency the harness did not ask for). The parent sends commands over a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from shared.testing.proxy import TcpProxy


@dataclass(frozen=True)
class Route:
    name: str  # "amqp", "postgres"
    target_port: int


async def _serve(routes: list[Route], conn: Connection) -> None:
    proxies = {r.name: TcpProxy("127.0.0.1", r.target_port) for r in routes}
    for proxy in proxies.values():
        await proxy.start()
    conn.send({name: p.port for name, p in proxies.items()})
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()

    def receive() -> None:
        try:
            commands.put_nowait(conn.recv())
        except (EOFError, OSError):  # the harness is gone: so are we
            loop.remove_reader(conn.fileno())
            commands.put_nowait(("stop", "", None))

    loop.add_reader(conn.fileno(), receive)
    while True:
        command, name, arg = await commands.get()
        if command == "stop":
            break
        proxy = proxies[name]
        answer: Any = None
        if command == "latency":
            proxy.latency = float(arg)
        elif command == "blackhole":
            proxy.blackhole()
        elif command == "heal":
            proxy.heal()
        elif command == "reset":
            answer = proxy.reset()
        elif command == "connections":
            answer = proxy.connections
        conn.send(answer)
    loop.remove_reader(conn.fileno())
    for proxy in proxies.values():
        await proxy.close()
    with contextlib.suppress(OSError):
        conn.send(None)


def _main(routes: list[Route], conn: Connection) -> None:
    # A Ctrl-C at the terminal reaches the whole process group: the harness stops the proxies
    # itself, after the services, so they must not go first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    uvloop.run(_serve(routes, conn))


class Proxies:
    def __init__(self, routes: list[Route]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_main, args=(routes, child), daemon=True)
        self._lock = asyncio.Lock()
        self.ports: dict[str, int] = {}

    async def _recv(self, wait_s: float = 30.0) -> Any:
        if not await asyncio.to_thread(self._conn.poll, wait_s):
            raise TimeoutError("the proxy process did not answer")
        return self._conn.recv()

    async def start(self) -> None:
        self._process.start()
        self.ports = await self._recv(60.0)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def _call(self, command: str, name: str = "", arg: Any = None) -> Any:
        async with self._lock:
            self._conn.send((command, name, arg))
            return await self._recv()

    async def latency(self, name: str, seconds: float) -> None:
        await self._call("latency", name, seconds)

    async def blackhole(self, name: str) -> None:
        await self._call("blackhole", name)

    async def heal(self, name: str) -> None:
        await self._call("heal", name)

    async def reset(self, name: str) -> int:
        links: int = await self._call("reset", name)
        return links

    def stop(self) -> None:
        """Synchronous, for the clean-up."""
        if self._process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self._conn.send(("stop", "", None))
                if self._conn.poll(10):
                    self._conn.recv()
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)

"""A TCP proxy tests put in front of RabbitMQ or PostgreSQL to break the link in the ways a
network does, and mend it.

No toxiproxy here: a few lines of asyncio do what the fault tests and the chaos harness need.
- `cut()` / `restore()`: refuse new connections and close the open ones (the target looks down,
  exactly as when it restarts);
- `reset()`: abort every open connection with a TCP RST (a middlebox or a peer dropping state);
  new connections are accepted as before;
- `blackhole()` / `heal()`: nothing passes either way and nobody is told (a partition): open
  connections stall, new ones are accepted but not carried through; what was held goes on
  after `heal()`, as TCP retransmission would deliver it, unless a side gave up first;
- `latency` (seconds, settable at any time): each chunk is delivered that much later, in order,
  without capping the bandwidth.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

_CHUNK = 65536
_HELD_CHUNKS = 64  # per direction and connection, while latency holds them back


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.latency = 0.0
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def blackholed(self) -> bool:
        return not self._flowing.is_set()

    @property
    def connections(self) -> int:
        """Open client connections (each has a link to the target)."""
        return len(self._links) // 2

    async def _forward(
        self, chunks: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, data = await chunks.get()
            if not data:
                return
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            await self._flowing.wait()
            writer.write(data)
            await writer.drain()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """reader -> writer; a chunk waits out `latency` (and a blackhole) before it goes."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_HELD_CHUNKS)

        async def read() -> None:
            while data := await reader.read(_CHUNK):
                await chunks.put((loop.time() + self.latency, data))
            await chunks.put((0.0, b""))  # end of stream, after what is still held

        reading = asyncio.create_task(read())
        forwarding = asyncio.create_task(self._forward(chunks, writer))
        try:
            # Both finish on a clean end of stream; either failing ends the link.
            await asyncio.wait({reading, forwarding}, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in (reading, forwarding):
                task.cancel()
            await asyncio.gather(reading, forwarding, return_exceptions=True)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._links.add(writer)
        try:
            await self._flowing.wait()  # a blackhole answers nothing, not even the target's hello
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except (OSError, asyncio.CancelledError):
            self._links.discard(writer)
            writer.close()
            return
        self._links.add(up_writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._links.difference_update({writer, up_writer})

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones: the target looks down."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for link in list(self._links):
            link.close()
        self._links.clear()

    async def restore(self) -> None:
        await self.start(self.port)

    def reset(self) -> int:
        """Abort every open connection with a RST (both sides); returns how many links."""
        links = list(self._links)
        for link in links:
            sock = link.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    # Linger on with a zero timeout: close() sends RST instead of FIN.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            link.transport.abort()
        self._links.clear()
        return len(links)

    def blackhole(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        """End a blackhole and any latency."""
        self.latency = 0.0
        self._flowing.set()

    async def close(self) -> None:
        self.heal()
        await self.cut()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)

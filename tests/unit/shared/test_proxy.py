"""The test proxy's network faults, against a real echo server on the loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from shared.testing.proxy import TcpProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = TcpProxy("127.0.0.1", server.sockets[0].getsockname()[1])
    await proxy.start()
    yield proxy
    await proxy.close()
    server.close()
    await server.wait_closed()


async def _connect(proxy: TcpProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> bytes:
    writer.write(data)
    await writer.drain()
    return await reader.readexactly(len(data))


async def test_data_passes_both_ways(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    payload = bytes(range(256)) * 1000  # several chunks
    assert await _round_trip(reader, writer, payload) == payload
    assert proxy.connections == 1
    writer.close()


async def test_latency_delays_each_way_and_keeps_order(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    proxy.latency = 0.2
    started = time.monotonic()
    answers = [await _round_trip(reader, writer, f"m{i};".encode()) for i in range(3)]
    # A chunk cannot arrive before its due time: a lower bound, whatever the machine's load.
    assert time.monotonic() - started >= 3 * 2 * 0.2
    assert answers == [b"m0;", b"m1;", b"m2;"]
    proxy.heal()
    assert proxy.latency == 0.0
    writer.close()


async def test_reset_aborts_open_connections_and_accepts_new_ones(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    assert await _round_trip(reader, writer, b"before") == b"before"
    assert proxy.reset() == 2  # the client's link and the target's
    with pytest.raises(ConnectionResetError):
        await _round_trip(reader, writer, b"after")
    reader, writer = await _connect(proxy)
    assert await _round_trip(reader, writer, b"again") == b"again"
    writer.close()


async def test_blackhole_holds_traffic_silently_until_healed(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    assert await _round_trip(reader, writer, b"ping") == b"ping"
    proxy.blackhole()
    assert proxy.blackholed
    writer.write(b"held")
    await writer.drain()
    # A new connection is accepted but not carried through either.
    reader2, writer2 = await _connect(proxy)
    writer2.write(b"late")
    await writer2.drain()
    first = asyncio.ensure_future(reader.readexactly(4))
    second = asyncio.ensure_future(reader2.readexactly(4))
    done, _ = await asyncio.wait({first, second}, timeout=0.5)
    assert not done  # no answer, and no error: the peer just goes quiet
    proxy.heal()
    # What was held is delivered, in order, on both connections.
    assert await asyncio.wait_for(first, 10) == b"held"
    assert await asyncio.wait_for(second, 10) == b"late"
    writer.close()
    writer2.close()


async def test_cut_refuses_until_restored(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    await proxy.cut()
    assert await reader.read(10) == b""  # closed by the proxy
    with pytest.raises(OSError):
        await _connect(proxy)
    await proxy.restore()
    reader, writer = await _connect(proxy)
    assert await _round_trip(reader, writer, b"back") == b"back"
    writer.close()

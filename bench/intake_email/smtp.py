"""A lean SMTP client on asyncio streams (one session, many messages), lead e-mails to send,
and a bare aiosmtpd sink in a process of its own: the ceiling the listener is compared with.

smtplib would need a thread per session; this client costs the shared cores little, so the
figures are the listener's, not the load generator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass
from email.message import EmailMessage
from multiprocessing.connection import Connection
from uuid import uuid4

ADF = """<?xml version="1.0"?><?adf version="1.0"?><adf><prospect>
<id source="bench">{source_id}</id><requestdate>2026-01-02T10:00:00-05:00</requestdate>
<vehicle interest="buy" status="used"><year>{year}</year><make>Toyota</make><model>RAV4</model>
</vehicle><customer><contact><name part="first">{first}</name><name part="last">{last}</name>
<email>{email}</email></contact><comments>Is it still available? I would like a test drive.
</comments></customer></prospect></adf>
"""
FIRST = ("Olivia", "Liam", "Emma", "Noah", "Charlotte", "William", "Amelia", "Lucas")
LAST = ("Tremblay", "Smith", "Roy", "Gagnon", "Brown", "Lee", "Wilson", "Nguyen")


def person_email(run: str, index: int) -> str:
    return f"mail.{run}.{index}@example.com"


def lead_mail(run: str, index: int) -> bytes:
    """The `index`-th message: an eLead-style e-mail whose body is an ADF document with one
    prospect, a person of its own (its e-mail is how the bench finds its `lead.ingested`)."""
    msg = EmailMessage()
    msg["From"] = "leads@marketplace.example"
    msg["To"] = "leads@dealer.example"
    msg["Subject"] = f"New lead {index}"
    msg["Message-ID"] = f"<{uuid4().hex}@bench.example>"
    msg.set_content(
        ADF.format(
            source_id=f"{run}-{index}",
            year=2018 + index % 7,
            first=FIRST[index % len(FIRST)],
            last=LAST[(index // len(FIRST)) % len(LAST)],
            email=person_email(run, index),
        )
    )
    return msg.as_bytes()


def _wire(content: bytes) -> bytes:
    """CRLF line ends and dot-stuffing (RFC 5321 4.5.2), then the end of data."""
    lines = content.replace(b"\r\n", b"\n").split(b"\n")
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"\r\n".join(stuffed).rstrip(b"\r\n") + b"\r\n.\r\n"


class SmtpError(RuntimeError):
    pass


@dataclass(frozen=True)
class Sent:
    index: int
    started: float  # MAIL FROM sent (monotonic)
    data_end: float  # the final "." written
    answered: float  # the reply to DATA read
    code: int


class Session:
    """One SMTP session; `send` delivers one message (MAIL, RCPT, DATA) and times it."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _reply(self) -> tuple[int, str]:
        assert self._reader is not None
        text = []
        while True:
            line = await self._reader.readline()
            if not line:
                raise SmtpError("connection closed")
            text.append(line.decode(errors="replace").rstrip())
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(text)

    async def _command(self, line: str, expect: int) -> None:
        assert self._writer is not None
        self._writer.write(line.encode() + b"\r\n")
        code, text = await self._reply()
        if code != expect:
            raise SmtpError(f"{line.split(':')[0]}: {text}")

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        code, text = await self._reply()
        if code != 220:
            raise SmtpError(f"greeting: {text}")
        await self._command("EHLO bench.example", 250)

    async def send(self, index: int, sender: str, recipient: str, content: bytes) -> Sent:
        assert self._writer is not None
        started = time.monotonic()
        await self._command(f"MAIL FROM:<{sender}>", 250)
        await self._command(f"RCPT TO:<{recipient}>", 250)
        await self._command("DATA", 354)
        self._writer.write(_wire(content))
        data_end = time.monotonic()
        code, text = await self._reply()
        answered = time.monotonic()
        if code != 250:
            raise SmtpError(f"end of data: {text}")
        return Sent(index, started, data_end, answered, code)

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.write(b"QUIT\r\n")
                await self._reply()
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None


async def wait_listening(host: str, port: int, wait_s: float, alive: object = None) -> None:
    """Until an SMTP greeting comes from host:port."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, SmtpError, ValueError):
            session = Session(host, port)
            await session.open()
            await session.close()
            return
        if callable(alive) and not alive():
            raise RuntimeError("the listener exited")
        await asyncio.sleep(0.3)
    raise TimeoutError(f"nothing answers SMTP on {host}:{port} after {wait_s}s")


# --- the bare sink ----------------------------------------------------------------------------


class _Sink:
    """aiosmtpd's handler that takes every message and does nothing with it."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        return "250 2.0.0 OK"


async def _sink_serve(conn: Connection) -> None:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    handler = _Sink()
    server = await loop.create_server(
        lambda: SMTP(handler, decode_data=False, hostname="sink", loop=loop), "127.0.0.1", 0
    )
    conn.send(server.sockets[0].getsockname()[1])
    await asyncio.to_thread(conn.recv)  # "stop"
    server.close()


def _sink_main(conn: Connection) -> None:
    asyncio.run(_sink_serve(conn))


class Sink:
    """A bare aiosmtpd server in a spawned process (the listener also has a process of its own)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_sink_main, args=(child,), daemon=True)
        self.port = 0

    async def start(self) -> None:
        self._process.start()
        if not await asyncio.to_thread(self._conn.poll, 30.0):
            raise TimeoutError("the SMTP sink did not start")
        self.port = int(self._conn.recv())

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.send("stop")
        await asyncio.to_thread(self._process.join, 5.0)
        if self._process.is_alive():
            self._process.terminate()

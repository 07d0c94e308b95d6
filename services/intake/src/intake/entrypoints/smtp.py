"""`forecourt-intake-smtp`: intake's SMTP listener (aiosmtpd), the way in of lead e-mails.

A message is accepted for a source's addresses only (`<source id>@<INTAKE_SMTP_DOMAIN>`, or
the address an admin gave it); any other recipient is refused at RCPT (550), so a provider
hears at once that it has the address wrong. SIZE is advertised: a message over
INTAKE_SMTP_MAX_BYTES is refused (552) before its data is sent, or at the end of DATA for a
client that ignores SIZE; the sender keeps it, nothing is half-read. STARTTLS is offered when
INTAKE_SMTP_TLS_CERT and _KEY are set (both, and loadable, or the listener does not start);
with INTAKE_SMTP_REQUIRE_TLS, MAIL and the rest are refused (530) until STARTTLS.

After DATA the raw message is committed first (as every raw payload is), then read and
ingested by the same service layer as every other way in; 250 is answered once that is done.
A database outage answers 451: the sender tries again later, and the same Message-ID makes
that resend a no-op if the first copy was stored; a message without one is known again by its
content (`content_key`: sender, date, subject and the parts as decoded). Processing left
unfinished by a crash is finished by intake's sweeper, which reads e-mails as it reads every
format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

import uvloop
from aiosmtpd.smtp import SMTP, Envelope, Session

from intake.adapters.email_message import content_key
from intake.adapters.email_repository import source_for_address
from intake.adapters.repository import SourceRow
from intake.config import IntakeSettings
from intake.domain import clean
from intake.entrypoints.http.app import ALEMBIC_INI
from intake.service_layer.batching import Batcher
from intake.service_layer.receive import (
    PARSE_IN_THREAD_BYTES,
    InvalidPayload,
    ProcessingFailed,
    Receiver,
)
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.auth import VerifiedKeyCache
from shared.clock import Clock, service_clock
from shared.messaging.topology import Topology
from shared.runtime import Runtime, run_service

log = logging.getLogger(__name__)

MAX_MESSAGE_ID = 250  # characters: it becomes an idempotency key

OK = "250 2.0.0 Message accepted"
UNKNOWN = "550 5.1.1 No lead source takes mail at this address"
TOO_MANY = "452 4.5.3 Too many recipients"
LATER = "451 4.3.0 Temporary failure, try again later"


def message_id(content: bytes) -> str | None:
    """The Message-ID, on one line and capped, or None. The header block only, compat32 (the
    default policy's Message-ID parser cost ~0.4 ms a message, for a value used as is)."""
    try:
        value = BytesHeaderParser(policy=policy.compat32).parsebytes(content).get("Message-ID")
    except (ValueError, IndexError, TypeError):
        return None
    value = " ".join(clean.one_line(str(value or "")).split())
    return value[:MAX_MESSAGE_ID] or None


class LeadMailHandler:
    """aiosmtpd's handler: RCPT finds the source, DATA stores and ingests the message."""

    def __init__(
        self,
        receiver: Receiver,
        uows: Any,
        *,
        leads_domain: str,
        max_recipients: int,
        cache_seconds: float = 0,
    ) -> None:
        self._receiver = receiver
        self._uows = uows
        self._domain = leads_domain
        self._max_recipients = max_recipients
        # A source found by its address is trusted this long without a query (a transaction
        # per RCPT otherwise); an address no source takes is always looked up again.
        self._known: VerifiedKeyCache[SourceRow] = VerifiedKeyCache(cache_seconds)

    async def _source(self, address: str) -> SourceRow | None:
        wanted = address.strip().lower()
        if (known := self._known.get(wanted)) is not None:
            return known
        uow: IntakeUnitOfWork
        async with self._uows() as uow:
            found = await source_for_address(uow.repo.session, address, self._domain)
        if found is not None:
            self._known.put(wanted, found)
        return found

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return TOO_MANY
        try:
            source = await self._source(address)
        except Exception:
            log.exception("smtp: looking up recipient %r failed", address[:320])
            return LATER
        if source is None:
            return UNKNOWN
        envelope.rcpt_tos.append(address)
        _sources(envelope)[source.id] = source
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        sources = _sources(envelope)
        content = envelope.original_content or b""
        msg_id = message_id(content)
        # Without a Message-ID, what the message says identifies it: sent again, it is the
        # same raw row (one per key and source) and so no second lead.
        key = msg_id or await _content_key(content)
        for source in sources.values():
            try:
                await self._receiver.receive(
                    source,
                    fmt="email",
                    body=content,
                    content_type="message/rfc822",
                    idempotency_header=key,
                    correlation_id=msg_id,
                )
            except (InvalidPayload, ProcessingFailed) as exc:
                # Kept and marked; the source's admin sees it with the raw message.
                log.warning("smtp: message %s for source %s kept as %s", key, source.id, exc)
            except Exception:
                log.exception("smtp: message %s for source %s not taken", key, source.id)
                return LATER
        return OK


async def _content_key(content: bytes) -> str:
    if len(content) <= PARSE_IN_THREAD_BYTES:
        return content_key(content)
    return await asyncio.to_thread(content_key, content)  # the loop serves other sessions


def _sources(envelope: Envelope) -> dict[Any, SourceRow]:
    """The sources of the envelope's recipients, kept on the envelope: RSET and the next
    transaction start with a new one."""
    found: dict[Any, SourceRow] | None = getattr(envelope, "forecourt_sources", None)
    if found is None:
        found = {}
        envelope.forecourt_sources = found  # type: ignore[attr-defined]
    return found


class TlsSettingsError(Exception):
    """The TLS settings cannot work: the listener stops at start rather than run without the
    TLS it was asked for (or offer a STARTTLS every handshake of which fails)."""


def _encrypted_key() -> bytes:
    # Called only for a passphrase-protected key; without it OpenSSL would prompt on the tty.
    raise TlsSettingsError("the key is passphrase-protected: give an unencrypted PEM key")


def tls_context(settings: IntakeSettings) -> ssl.SSLContext | None:
    """The server context from INTAKE_SMTP_TLS_CERT and _KEY, None when neither is set."""
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if not cert and not key:
        if settings.smtp_require_tls:
            raise TlsSettingsError(
                "INTAKE_SMTP_REQUIRE_TLS needs INTAKE_SMTP_TLS_CERT and INTAKE_SMTP_TLS_KEY"
            )
        return None
    if not (cert and key):
        given, missing = ("CERT", "KEY") if cert else ("KEY", "CERT")
        raise TlsSettingsError(
            f"INTAKE_SMTP_TLS_{given} is set but INTAKE_SMTP_TLS_{missing} is not: set both "
            "(STARTTLS) or neither"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key, password=_encrypted_key)
    except OSError as exc:  # ssl.SSLError too: not PEM, or the key is not the cert's
        raise TlsSettingsError(
            f"cannot load INTAKE_SMTP_TLS_CERT {cert!r} with INTAKE_SMTP_TLS_KEY {key!r}: {exc}"
        ) from exc
    return context


@dataclass
class Listener:
    runtime: Runtime
    receiver: Receiver
    server: asyncio.Server
    port: int


@contextlib.asynccontextmanager
async def smtp_listener(
    settings: IntakeSettings,
    *,
    topology: Topology | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Listener]:
    """The listener with its own database pool, relay and batcher, on INTAKE_SMTP_PORT (0: a
    free port, see `Listener.port`)."""
    context = tls_context(settings)  # before anything starts: bad TLS settings stop it here
    common = settings.common
    topology = topology or Topology(common.namespace, common.delivery_limit)
    clock = clock or service_clock(common.clock_file)
    wiring: dict[str, Any] = {}

    def subscribe(runtime: Runtime) -> list[str]:
        def uows() -> IntakeUnitOfWork:
            return IntakeUnitOfWork(runtime.sessions, on_commit=runtime.wake_relay)

        wiring["uows"] = uows
        return []  # consumes nothing: it only publishes, through the outbox

    async with run_service(
        "intake-smtp", settings, alembic_ini=ALEMBIC_INI, topology=topology, subscribe=subscribe
    ) as runtime:
        uows = wiring["uows"]
        receiver = Receiver(
            uows,
            clock,
            max_adf_bytes=settings.max_adf_bytes,
            max_adf_prospects=settings.max_adf_prospects,
        )
        if settings.batch_workers:
            batcher = Batcher(
                receiver,
                uows,
                clock,
                max_batch=settings.max_batch,
                workers=settings.batch_workers,
            )
            receiver.batcher = batcher
            runtime.background(batcher.run())
        handler = LeadMailHandler(
            receiver,
            uows,
            leads_domain=settings.smtp_domain,
            max_recipients=settings.smtp_max_recipients,
            cache_seconds=settings.key_cache_seconds,
        )
        loop = asyncio.get_running_loop()

        def protocol() -> SMTP:
            return SMTP(
                handler,
                data_size_limit=settings.smtp_max_bytes,
                enable_SMTPUTF8=True,
                decode_data=False,
                hostname=settings.smtp_domain,
                ident="Forecourt intake",
                tls_context=context,
                require_starttls=settings.smtp_require_tls,
                loop=loop,
            )

        # reuse_port: several listeners on one host share the port (the kernel spreads them).
        server = await loop.create_server(
            protocol, settings.smtp_host, settings.smtp_port, reuse_port=True
        )
        port = server.sockets[0].getsockname()[1]
        log.info(
            "smtp: listening on %s:%d for *@%s (%s)",
            settings.smtp_host,
            port,
            settings.smtp_domain,
            type(loop).__module__.split(".")[0],  # uvloop, or asyncio in tests
        )
        try:
            yield Listener(runtime, receiver, server, port)
        finally:
            server.close()
            await server.wait_closed()


async def _serve(settings: IntakeSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with smtp_listener(settings):
        await stop.wait()


def main() -> None:
    settings = IntakeSettings()
    logging.basicConfig(
        level=settings.common.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        # uvloop, as uvicorn gives the HTTP services: the listener's sockets, asyncpg and
        # aio-pika all run on it (aiosmtpd's STARTTLS works with it since 1.4.3).
        uvloop.run(_serve(settings))
    except TlsSettingsError as exc:
        raise SystemExit(f"forecourt-intake-smtp: {exc}") from None


if __name__ == "__main__":
    main()

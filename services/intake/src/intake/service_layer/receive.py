"""Receive a payload: keep it raw first, then process it.

The raw payload is committed before anything else happens, so a crash between receive and
publish loses nothing: processing locks the raw row, and a sweeper picks up any payload a crash
left pending. Malformed payloads are kept too, marked invalid with the reason; one whose
processing fails for another reason (a bug) is marked failed with the error, so neither the
sweeper nor a redelivered message trips over it again. A database outage marks nothing: the
payload stays pending and is processed once the database is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import ValidationError

from intake.adapters.adf import MAX_PROSPECTS, AdfError, parse_adf
from intake.adapters.email_layouts import parse_email
from intake.adapters.repository import SourceRow
from intake.domain import clean
from intake.domain.call import CallNotice
from intake.domain.model import FieldError
from intake.domain.submission import LeadSubmission
from intake.service_layer.calls import record_call
from intake.service_layer.ingest import (
    IncomingLead,
    IngestResult,
    UnknownDealership,
    idempotency_key,
    ingest,
    tenant_rules,
)
from intake.service_layer.outage import OutageWatch
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.clock import Clock
from shared.http import database_transient, database_unavailable

log = logging.getLogger(__name__)

Format = Literal["json", "adf", "amqp", "email"]
UowFactory = Callable[[], IntakeUnitOfWork]


class InvalidPayload(ValueError):
    """The payload cannot be read as a lead; `errors` name the fields and the reasons."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors
        self.raw_payload_id: UUID | None = None  # where the payload was kept


class ProcessingFailed(RuntimeError):
    """Processing a stored payload failed for a reason other than its content or an outage;
    the payload is marked failed with `error`."""

    def __init__(self, raw_payload_id: UUID, error: str) -> None:
        super().__init__(error)
        self.raw_payload_id = raw_payload_id
        self.error = error


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=".".join(str(p) for p in err["loc"]) or "body", reason=err["msg"])
        for err in exc.errors()
    ]


# Bodies larger than this are parsed in a worker thread: a 5,000-prospect ADF document held
# the event loop (and every other request, /healthz included) for 1.7 s.
PARSE_IN_THREAD_BYTES = 32_000


@dataclass(frozen=True)
class Parsed:
    """What a payload holds: its leads, or (an e-mail) a phone-call notification."""

    submissions: list[LeadSubmission]
    call: CallNotice | None = None


def parse_payload(
    fmt: str, body: bytes, *, max_adf_bytes: int, max_adf_prospects: int = MAX_PROSPECTS
) -> Parsed:
    try:
        if fmt == "adf":
            return Parsed(parse_adf(body, max_bytes=max_adf_bytes, max_prospects=max_adf_prospects))
        if fmt == "email":  # a call notification gives no lead: `call.received` instead
            mail = parse_email(
                body, max_adf_bytes=max_adf_bytes, max_adf_prospects=max_adf_prospects
            )
            return Parsed(mail.submissions, mail.call)
        return Parsed([LeadSubmission.model_validate_json(body)])
    except AdfError as exc:
        raise InvalidPayload([FieldError(exc.field, exc.reason)]) from exc
    except ValidationError as exc:
        raise InvalidPayload(field_errors(exc)) from exc


@dataclass(frozen=True)
class Received:
    raw_payload_id: UUID
    results: list[IngestResult]


class Receiver:
    def __init__(
        self,
        uows: UowFactory,
        clock: Clock,
        *,
        max_adf_bytes: int,
        max_adf_prospects: int = MAX_PROSPECTS,
    ) -> None:
        self._uows = uows
        self._clock = clock
        self._max_adf_bytes = max_adf_bytes
        self._max_adf_prospects = max_adf_prospects
        # Set by the app when a batcher runs: concurrent payloads then share transactions.
        self.batcher: Batcher | None = None
        self.outage = OutageWatch()

    def raw_row(
        self,
        source: SourceRow,
        *,
        fmt: Format,
        body: bytes,
        content_type: str | None,
        idempotency_header: str | None,
    ) -> dict[str, Any]:
        key = clean.one_line(idempotency_header) if idempotency_header else None
        return {
            "id": uuid4(),
            "tenant_id": source.tenant_id,
            "source_id": source.id,
            "format": fmt,
            # Headers, as the other text columns, reach the database without control
            # characters (an AMQP message id or content type may hold a NUL).
            "content_type": clean.one_line(content_type)[:200] if content_type else None,
            "body": body,
            "idempotency_key": key,
            # An AMQP message's id, an e-mail's Message-ID: one row per message and source.
            "message_id": key if fmt in ("amqp", "email") else None,
            "received_at": self._clock.now(),
        }

    def parse(self, fmt: str, body: bytes) -> Parsed:
        return parse_payload(
            fmt,
            body,
            max_adf_bytes=self._max_adf_bytes,
            max_adf_prospects=self._max_adf_prospects,
        )

    async def parse_off_loop(self, fmt: str, body: bytes) -> Parsed:
        """`parse`, in a worker thread for a large body: the event loop goes on serving other
        requests meanwhile (the thread gives the GIL back every few milliseconds)."""
        if len(body) <= PARSE_IN_THREAD_BYTES:
            return self.parse(fmt, body)  # a thread hand-off costs more than parsing it
        return await asyncio.to_thread(self.parse, fmt, body)

    async def refuse(
        self,
        source: SourceRow,
        *,
        fmt: Format,
        body: bytes,
        content_type: str | None,
        idempotency_header: str | None,
        error: str,
    ) -> None:
        """Keep a payload refused before reading it (e.g. too large: `body` is its start)."""
        row = self.raw_row(
            source,
            fmt=fmt,
            body=body,
            content_type=content_type,
            idempotency_header=idempotency_header,
        )
        row.update(status="invalid", error=error, processed_at=self._clock.now())
        async with self._uows() as uow:
            await uow.repo.add_raw(row)
            await uow.commit()

    async def store(
        self,
        source: SourceRow,
        *,
        fmt: Format,
        body: bytes,
        content_type: str | None,
        idempotency_header: str | None,
    ) -> UUID:
        row = self.raw_row(
            source,
            fmt=fmt,
            body=body,
            content_type=content_type,
            idempotency_header=idempotency_header,
        )
        async with self._uows() as uow:
            await uow.repo.add_raw(row)
            await uow.commit()
        raw_id: UUID = row["id"]
        return raw_id

    async def receive(
        self,
        source: SourceRow,
        *,
        fmt: Format,
        body: bytes,
        content_type: str | None = None,
        idempotency_header: str | None = None,
        correlation_id: str | None = None,
    ) -> Received:
        """Keep the payload, then process it. Raises InvalidPayload (with the raw id), or
        ProcessingFailed."""
        row = self.raw_row(
            source,
            fmt=fmt,
            body=body,
            content_type=content_type,
            idempotency_header=idempotency_header,
        )
        if correlation_id:  # it travels on in the events
            correlation_id = clean.one_line(correlation_id)[:200]
        if self.batcher is not None:
            return await self.batcher.submit(source, row, correlation_id)
        async with self._uows() as uow:
            stored = await uow.repo.add_raw(row)
            await uow.commit()
        if not stored:
            return await self.message_again(source, row["message_id"], correlation_id)
        results = await self.outcome(source.tenant_id, row["id"], correlation_id=correlation_id)
        return Received(row["id"], results)

    async def message_again(
        self, source: SourceRow, message_id: str, correlation_id: str | None
    ) -> Received:
        """An AMQP message delivered before (a nack, a crash, a replay from its `.dlq`) is
        processed from the raw row of its first delivery, if it is not already: one row per
        message, however many deliveries."""
        async with self._uows() as uow:
            known = await uow.repo.raw_of_message(source.tenant_id, source.id, message_id)
            assert known is not None  # its insert conflicted with it
            if known.status in ("invalid", "failed"):  # replayed, presumably after a fix
                await uow.repo.reopen_raw(source.tenant_id, known.id)
                await uow.commit()
        results = await self.outcome(source.tenant_id, known.id, correlation_id=correlation_id)
        return Received(known.id, results)

    async def outcome(
        self, tenant_id: str, raw_id: UUID, *, correlation_id: str | None = None
    ) -> list[IngestResult]:
        """Process a stored payload, or, if someone else did, what came of it."""
        results = await self.process(tenant_id, raw_id, correlation_id=correlation_id)
        if results is None:
            return await self.recorded(tenant_id, raw_id)
        return results

    async def recorded(self, tenant_id: str, raw_id: UUID) -> list[IngestResult]:
        """What processing a payload gave (resends now), or the error it was marked with."""
        async with self._uows() as uow:
            raw, subs = await uow.repo.raw_outcome(tenant_id, raw_id)
        if raw.status == "invalid":
            invalid = InvalidPayload([FieldError("body", raw.error or "invalid")])
            invalid.raw_payload_id = raw_id
            raise invalid
        if raw.status != "processed":  # failed; or pending again after an outage
            raise ProcessingFailed(raw_id, raw.error or f"payload is {raw.status}")
        return [
            IngestResult(
                outcome="resent",
                submission_id=sub.id,
                lead_id=sub.lead_id,
                reason_code=sub.reason_code,
            )
            for sub in subs
        ]

    async def process(
        self, tenant_id: str, raw_id: UUID, *, correlation_id: str | None = None
    ) -> list[IngestResult] | None:
        """Process a stored payload once; None if it was processed already. Raises
        InvalidPayload (marked invalid), ProcessingFailed (marked failed), or the error of a
        database outage (left pending)."""
        async with self._uows() as uow:
            raw = await uow.repo.lock_raw(tenant_id, raw_id)
            if raw is None or raw.status != "pending":
                return None
            source = await uow.repo.source(tenant_id, raw.source_id)
            assert source is not None
            try:
                parsed = await self.parse_off_loop(raw.format, raw.body)
                items = self.items(raw, parsed.submissions, correlation_id)
                results = await ingest(
                    uow,
                    source,
                    items,
                    rules=await tenant_rules(uow, tenant_id),
                    now=self._clock.now(),
                )
                if parsed.call is not None:
                    await record_call(uow, source, raw, parsed.call, correlation_id)
                await uow.repo.finish_raw(tenant_id, raw_id, "processed")
                await uow.commit()
            except (InvalidPayload, UnknownDealership) as exc:
                await uow.rollback()
                await self._finish(tenant_id, raw_id, "invalid", str(exc)[:4000])
                invalid = (
                    exc
                    if isinstance(exc, InvalidPayload)
                    else InvalidPayload([FieldError("dealership_id", str(exc))])
                )
                invalid.raw_payload_id = raw_id
                raise invalid from exc
            except Exception as exc:
                if database_transient(exc):
                    self.outage.saw(exc)
                    raise  # an outage, or a lost race: the payload stays pending
                await uow.rollback()
                log.exception("raw payload %s could not be processed; marked failed", raw_id)
                await self._finish(tenant_id, raw_id, "failed", describe(exc))
                raise ProcessingFailed(raw_id, describe(exc)) from exc
            return results

    @staticmethod
    def items(
        raw: Any, subs: list[LeadSubmission], correlation_id: str | None
    ) -> list[IncomingLead]:
        """One IncomingLead per submission of a raw payload (`raw`: a row or its values)."""
        many = len(subs) > 1
        items = []
        for index, sub in enumerate(subs):
            header = raw.idempotency_key
            if header and many:
                header = f"{header}#{index}"  # one key per prospect of a multi-lead document
            items.append(
                IncomingLead(
                    submission=sub,
                    received_at=raw.received_at,
                    idempotency_key=idempotency_key(header, sub),
                    raw_payload_id=raw.id,
                    correlation_id=correlation_id,
                )
            )
        return items

    async def _finish(self, tenant_id: str, raw_id: UUID, status: str, error: str) -> None:
        async with self._uows() as uow:
            await uow.repo.finish_raw(tenant_id, raw_id, status, error=clean.one_line(error))
            await uow.commit()

    async def sweep(self, older_than: timedelta, limit: int = 100) -> int:
        """Process payloads a crash left pending. Safe with many replicas (SKIP LOCKED). A
        payload that cannot be processed is marked invalid or failed and the sweep goes on; a
        database outage ends the sweep (the next one starts over)."""
        return await self.sweep_received_before(self._clock.now() - older_than, limit)

    async def recover(self, limit: int = 100) -> int:
        """After an outage: every payload still pending that was received before now (the
        ones the outage stranded, here or on another replica), batch after batch."""
        cutoff = self._clock.now()
        total = 0
        for _ in range(1000):  # bounded: rows left pending (a lost race) are claimed again
            done = await self.sweep_received_before(cutoff, limit)
            total += done
            if done < limit:
                break
        return total

    async def sweep_received_before(self, cutoff: datetime, limit: int = 100) -> int:
        async with self._uows() as uow:
            stale = await uow.repo.claim_stale_raw(cutoff, limit)
            pending = [(r.tenant_id, r.id) for r in stale]
            await uow.rollback()
        done = 0
        for tenant_id, raw_id in pending:
            try:
                if await self.process(tenant_id, raw_id) is not None:
                    done += 1
            except (InvalidPayload, ProcessingFailed):
                done += 1
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                # Left pending (a lost race; or the mark itself failed): the others go on.
                log.exception("sweep: raw payload %s left pending", raw_id)
        return done


from intake.service_layer.batching import Batcher  # noqa: E402  (the two refer to each other)

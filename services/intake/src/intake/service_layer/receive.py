"""Receive a payload: keep it raw first, then process it.

The raw payload is committed before anything else happens, so a crash between receive and
publish loses nothing: processing locks the raw row, and a sweeper picks up any payload a crash
left pending. Malformed payloads are kept too, marked invalid with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import ValidationError

from intake.adapters.adf import AdfError, parse_adf
from intake.adapters.repository import SourceRow
from intake.domain.model import FieldError
from intake.domain.submission import LeadSubmission
from intake.service_layer.ingest import (
    IncomingLead,
    IngestResult,
    UnknownDealership,
    idempotency_key,
    ingest,
    tenant_rules,
)
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.clock import Clock

log = logging.getLogger(__name__)

Format = Literal["json", "adf", "amqp"]
UowFactory = Callable[[], IntakeUnitOfWork]


class InvalidPayload(ValueError):
    """The payload cannot be read as a lead; `errors` name the fields and the reasons."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors
        self.raw_payload_id: UUID | None = None  # where the payload was kept


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=".".join(str(p) for p in err["loc"]) or "body", reason=err["msg"])
        for err in exc.errors()
    ]


def parse_payload(fmt: str, body: bytes, *, max_adf_bytes: int) -> list[LeadSubmission]:
    try:
        if fmt == "adf":
            return parse_adf(body, max_bytes=max_adf_bytes)
        return [LeadSubmission.model_validate_json(body)]
    except AdfError as exc:
        raise InvalidPayload([FieldError(exc.field, exc.reason)]) from exc
    except ValidationError as exc:
        raise InvalidPayload(field_errors(exc)) from exc


@dataclass(frozen=True)
class Received:
    raw_payload_id: UUID
    results: list[IngestResult]


class Receiver:
    def __init__(self, uows: UowFactory, clock: Clock, *, max_adf_bytes: int) -> None:
        self._uows = uows
        self._clock = clock
        self._max_adf_bytes = max_adf_bytes
        # Set by the app when a batcher runs: concurrent payloads then share transactions.
        self.batcher: Batcher | None = None

    def raw_row(
        self,
        source: SourceRow,
        *,
        fmt: Format,
        body: bytes,
        content_type: str | None,
        idempotency_header: str | None,
    ) -> dict[str, Any]:
        return {
            "id": uuid4(),
            "tenant_id": source.tenant_id,
            "source_id": source.id,
            "format": fmt,
            "content_type": content_type,
            "body": body,
            "idempotency_key": idempotency_header,
            "received_at": self._clock.now(),
        }

    def parse(self, fmt: str, body: bytes) -> list[LeadSubmission]:
        return parse_payload(fmt, body, max_adf_bytes=self._max_adf_bytes)

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
        """Keep the payload, then process it. Raises InvalidPayload (with the raw id)."""
        row = self.raw_row(
            source,
            fmt=fmt,
            body=body,
            content_type=content_type,
            idempotency_header=idempotency_header,
        )
        if self.batcher is not None:
            return await self.batcher.submit(source, row, correlation_id)
        async with self._uows() as uow:
            await uow.repo.add_raw(row)
            await uow.commit()
        results = await self.process(source.tenant_id, row["id"], correlation_id=correlation_id)
        return Received(row["id"], results or [])

    async def process(
        self, tenant_id: str, raw_id: UUID, *, correlation_id: str | None = None
    ) -> list[IngestResult] | None:
        """Process a stored payload once; None if it was processed already."""
        async with self._uows() as uow:
            raw = await uow.repo.lock_raw(tenant_id, raw_id)
            if raw is None or raw.status != "pending":
                return None
            source = await uow.repo.source(tenant_id, raw.source_id)
            assert source is not None
            try:
                subs = self.parse(raw.format, raw.body)
                items = self.items(raw, subs, correlation_id)
                results = await ingest(
                    uow,
                    source,
                    items,
                    rules=await tenant_rules(uow, tenant_id),
                    now=self._clock.now(),
                )
            except (InvalidPayload, UnknownDealership) as exc:
                await uow.rollback()
                await self._mark_invalid(tenant_id, raw_id, exc)
                invalid = (
                    exc
                    if isinstance(exc, InvalidPayload)
                    else InvalidPayload([FieldError("dealership_id", str(exc))])
                )
                invalid.raw_payload_id = raw_id
                raise invalid from exc
            await uow.repo.finish_raw(tenant_id, raw_id, "processed")
            await uow.commit()
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

    async def _mark_invalid(self, tenant_id: str, raw_id: UUID, exc: Exception) -> None:
        async with self._uows() as uow:
            await uow.repo.finish_raw(tenant_id, raw_id, "invalid", error=str(exc)[:4000])
            await uow.commit()

    async def sweep(self, older_than: timedelta, limit: int = 100) -> int:
        """Process payloads a crash left pending. Safe with many replicas (SKIP LOCKED)."""
        async with self._uows() as uow:
            stale = await uow.repo.claim_stale_raw(self._clock.now() - older_than, limit)
            pending = [(r.tenant_id, r.id) for r in stale]
            await uow.rollback()
        done = 0
        for tenant_id, raw_id in pending:
            try:
                if await self.process(tenant_id, raw_id) is not None:
                    done += 1
            except InvalidPayload:
                done += 1
        return done


from intake.service_layer.batching import Batcher  # noqa: E402  (the two refer to each other)

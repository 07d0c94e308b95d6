"""Erase a person: scrub intake's rows and tell every other service through `person.erased`.

One transaction: the person's leads (found by email or phone, locked), their submissions, the
payloads naming them, their lines in uploaded files, intake's own events about them still in the
outbox, and the `person.erased` event all commit together or not at all. The person's
de-duplication locks are held meanwhile, so a lead of theirs arriving at the same moment is
either erased with the rest or comes after (a new lead: a new consent).

A repeated request finds nothing left and answers with zero counts; it still publishes
`person.erased` (consumers scrub idempotently), so repeating an erasure is always safe.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from intake.adapters.erasure import ErasureRepository
from intake.domain import dedup
from intake.domain.erasure import AmbiguousPhone, person
from intake.service_layer.events import PRODUCER
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.contracts import PersonErasedV1, new_envelope
from shared.erasure import scrub_outbox


class NoContact(ValueError):
    """The request names no usable email or phone, or a phone that is ambiguous."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class Counts:
    leads: int = 0
    submissions: int = 0
    raw_payloads: int = 0
    bulk_lines: int = 0
    outbox_messages: int = 0


@dataclass(frozen=True)
class Erased:
    erasure_id: UUID
    lead_ids: tuple[UUID, ...]
    counts: Counts = field(default_factory=Counts)


async def erase_person(
    uow: IntakeUnitOfWork,
    tenant_id: str,
    *,
    email: str | None,
    phone: str | None,
    requested_by: str,
    now: datetime,
) -> Erased:
    async with uow:
        repo = ErasureRepository(uow.session)
        try:
            who = person(email, phone, await repo.regions(tenant_id))
        except AmbiguousPhone as exc:
            raise NoContact("phone", str(exc)) from exc
        if who.empty:
            raise NoContact(
                "email" if email else "phone",
                "neither the email nor the phone is a usable contact",
            )
        locks = [dedup.lock_key("email", tenant_id, e) for e in who.emails]
        locks += [dedup.lock_key("phone", tenant_id, p) for p in who.phones]
        await uow.repo.lock(dedup.sorted_unique(locks))
        lead_ids = await repo.leads(tenant_id, who)
        submissions, raw_ids = await repo.scrub_submissions(tenant_id, lead_ids, who)
        counts = Counts(
            leads=await repo.scrub_leads(tenant_id, lead_ids),
            submissions=submissions,
            raw_payloads=await repo.scrub_raw(tenant_id, raw_ids, who),
            bulk_lines=await repo.scrub_bulk_files(tenant_id, who),
            outbox_messages=await scrub_outbox(uow.session, tenant_id, lead_ids),
        )
        erasure_id = uuid4()
        await repo.record(
            {
                "id": erasure_id,
                "tenant": tenant_id,
                "by": requested_by,
                "lead_ids": lead_ids,
                "counts": _json(counts),
                "requested_at": now,
                "erased_at": now,
            }
        )
        uow.emit(
            new_envelope(
                PersonErasedV1(
                    erasure_id=erasure_id,
                    lead_ids=tuple(lead_ids),
                    requested_at=now,
                    erased_at=now,
                    contact_hashes=who.hashes,
                ),
                tenant_id=tenant_id,
                producer=PRODUCER,
            )
        )
        await uow.commit()
    return Erased(erasure_id, tuple(lead_ids), counts)


def _json(counts: Counts) -> str:
    return json.dumps(asdict(counts))

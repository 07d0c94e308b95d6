"""Ingest leads: normalise, reject, de-duplicate, record, and raise the events.

One handler for every way in: a JSON post or an ADF prospect is a batch of one; a bulk upload
goes through in batches of hundreds. Within a batch the work is set-based (one lock statement,
one lookup of resends, one of candidate leads, bulk inserts) so bulk intake stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic_core import to_jsonable_python

from intake.adapters.repository import LeadState, SourceRow
from intake.domain import dedup
from intake.domain.model import (
    DealershipPlace,
    FieldError,
    NormalisedLead,
    Rejection,
    Vehicle,
    shallow_dict,
)
from intake.domain.normalise import ContactCache, normalise
from intake.domain.submission import LeadSubmission
from intake.domain.test_rules import TestLeadRules
from intake.service_layer import events
from intake.service_layer.unit_of_work import IntakeUnitOfWork

Outcome = Literal["ingested", "merged", "rejected", "resent"]
# Lead statuses a new enquiry of the person merges into (intake.domain.stages).
TAKES_ENQUIRIES = frozenset({"open", "prospect"})
BULK_KEY_PREFIX = "bulk:"


class UnknownDealership(ValueError):
    def __init__(self, dealership_id: str) -> None:
        super().__init__(f"dealership {dealership_id!r} is not one of this dealer group's")
        self.dealership_id = dealership_id


@dataclass(frozen=True)
class IncomingLead:
    submission: LeadSubmission
    received_at: datetime
    idempotency_key: str | None = None
    raw_payload_id: UUID | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    submission_id: UUID
    lead_id: UUID | None = None
    reason_code: str | None = None
    errors: tuple[FieldError, ...] = ()
    matched_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantRules:
    dedup_window: timedelta = timedelta(days=30)
    test_rules: TestLeadRules = field(default_factory=TestLeadRules.default)


async def tenant_rules(uow: IntakeUnitOfWork, tenant_id: str) -> TenantRules:
    days, rules = await uow.repo.tenant_config(tenant_id)
    return TenantRules(
        dedup_window=timedelta(days=days),
        test_rules=TestLeadRules.model_validate(rules)
        if rules is not None
        else TestLeadRules.default(),
    )


def idempotency_key(header: str | None, sub: LeadSubmission) -> str | None:
    """The client's Idempotency-Key, else the provider's own lead id."""
    if header:
        return f"key:{header}"
    if sub.source_lead_id:
        return f"lead:{sub.source_lead_id}"
    return None


@dataclass
class Verdicts:
    """Each item's dealership, and its normalised lead or the reason it is rejected."""

    dealerships: list[UUID] = field(default_factory=list)
    judged: list[NormalisedLead | Rejection] = field(default_factory=list)
    places: dict[UUID, DealershipPlace] = field(default_factory=dict)  # lead.ingested carries it

    def extend(self, more: Verdicts) -> None:
        self.dealerships += more.dealerships
        self.judged += more.judged
        self.places |= more.places


def judge(
    items: list[IncomingLead],
    source: SourceRow,
    countries: dict[UUID, DealershipPlace],
    rules: TenantRules,
    cache: ContactCache | None = None,
) -> Verdicts:
    """The part of ingesting that needs no database and no lock, so a bulk job can judge its
    next batch while the last one is being written. `cache`: a bulk job's emails and phones
    read before."""
    dealerships = [dealership_of(item.submission, source, countries) for item in items]
    judged: list[NormalisedLead | Rejection] = [
        normalise(
            item.submission,
            country=countries[d].country,
            timezone=countries[d].timezone,
            rules=rules.test_rules,
            cache=cache,
        )
        for item, d in zip(items, dealerships, strict=True)
    ]
    return Verdicts(dealerships, judged, {d: countries[d] for d in set(dealerships)})


def _shared_keys(items: list[IncomingLead]) -> list[str]:
    # A bulk row's own key (job and row number) is only ever used by that job's one worker,
    # and never exists past the job's checkpoint: no lock and no lookup needed for it.
    keys = [item.idempotency_key for item in items]
    return [k for k in keys if k and not k.startswith(BULK_KEY_PREFIX)]


def lock_keys(source: SourceRow, items: list[IncomingLead], verdicts: Verdicts) -> list[int]:
    """The advisory locks ingesting these items needs: their idempotency keys and people."""
    locks = [dedup.idempotency_lock_key(source.id, k) for k in _shared_keys(items)]
    for verdict in verdicts.judged:
        if isinstance(verdict, NormalisedLead):
            locks += dedup.person_lock_keys(source.tenant_id, verdict.contact)
    return locks


async def ingest(
    uow: IntakeUnitOfWork,
    source: SourceRow,
    items: list[IncomingLead],
    *,
    rules: TenantRules,
    now: datetime,
    bulk_job_id: UUID | None = None,
    verdicts: Verdicts | None = None,
    locked: bool = False,
) -> list[IngestResult]:
    """Decide each item's fate and stage rows and events; the caller commits. `verdicts`:
    the items already judged (`judge()`), else they are judged here. `locked`: the caller
    holds `lock_keys()` already (a transaction ingesting for several sources must take all
    its locks in one call, or two such transactions deadlock)."""
    if verdicts is None:
        countries = await uow.repo.dealership_places(source.tenant_id)
        verdicts = judge(items, source, countries, rules)
    dealerships, judged = verdicts.dealerships, verdicts.judged
    shared_keys = _shared_keys(items)
    if not locked:
        await uow.repo.lock(dedup.sorted_unique(lock_keys(source, items, verdicts)))

    # Read only after the locks: a concurrent batch's leads are committed or not yet begun.
    earlier = await uow.repo.submissions_by_key(source.id, shared_keys)
    valid = [v for v in judged if isinstance(v, NormalisedLead)]
    candidates = await uow.repo.candidate_leads(
        source.tenant_id,
        emails=sorted({e for v in valid if (e := dedup.email_key(v.contact.email))}),
        phones=sorted({v.contact.phone for v in valid if v.contact.phone}),
    )
    people = _PersonIndex(candidates)
    batch = _Batch()
    results: list[IngestResult] = []
    for item, dealership_id, verdict in zip(items, dealerships, judged, strict=True):
        key = item.idempotency_key
        if key and (previous := earlier.get(key) or batch.by_key.get(key)):
            results.append(_resent(previous))
            continue
        if isinstance(verdict, Rejection):
            result = _reject(uow, source, item, dealership_id, verdict, bulk_job_id, batch)
        elif (match := people.find(verdict)) is not None:
            result = _merge(uow, source, item, dealership_id, verdict, match, bulk_job_id, batch)
        else:
            place = verdicts.places.get(dealership_id)
            follows = people.person(verdict)
            result = _create(
                uow,
                source,
                item,
                dealership_id,
                verdict,
                bulk_job_id,
                batch,
                place,
                follows=follows,
            )
            people.add(batch.new_leads[-1][1])
        if key:
            batch.by_key[key] = result
        results.append(result)

    await uow.repo.insert_leads([row for row, _ in batch.new_leads])
    await uow.repo.update_merged([s for s in candidates if s.touched])
    await uow.repo.insert_submissions(batch.submissions)
    return results


def dealership_of(
    sub: LeadSubmission, source: SourceRow, countries: dict[UUID, DealershipPlace]
) -> UUID:
    """The lead's dealership: its own `dealership_id`, else the source's. UnknownDealership
    unless it is one of the tenant's (`countries`)."""
    if not sub.dealership_id:
        if source.dealership_id not in countries:  # a bulk job's override, checked at upload
            raise UnknownDealership(str(source.dealership_id))
        return source.dealership_id
    try:
        wanted = UUID(sub.dealership_id)
    except ValueError:
        raise UnknownDealership(sub.dealership_id) from None
    if wanted not in countries:
        raise UnknownDealership(sub.dealership_id)
    return wanted


@dataclass(frozen=True)
class _Earlier:
    """What a new lead inherits from the person's earlier leads: the closed one it follows
    (the most recently active) and whether they asked never to be contacted."""

    previous_lead_id: UUID | None = None
    do_not_contact: bool = False


class _PersonIndex:
    """The person's leads by email and by phone. A lead still in first contact (open) or an
    open prospect takes a new enquiry: the prospect first (their consultant hears of it), then
    the most recently active."""

    def __init__(self, leads: list[LeadState]) -> None:
        self._open_by_email: dict[str, list[LeadState]] = {}
        self._open_by_phone: dict[str, list[LeadState]] = {}
        self._all_by_email: dict[str, list[LeadState]] = {}
        self._all_by_phone: dict[str, list[LeadState]] = {}
        for state in sorted(leads, key=lambda s: s.last_enquiry_at):
            self.add(state)

    def add(self, state: LeadState) -> None:
        email = dedup.email_key(state.email)
        if email:
            self._all_by_email.setdefault(email, []).append(state)
        if state.phone:
            self._all_by_phone.setdefault(state.phone, []).append(state)
        if state.status not in TAKES_ENQUIRIES:
            return
        if email:
            self._open_by_email.setdefault(email, []).append(state)
        if state.phone:
            self._open_by_phone.setdefault(state.phone, []).append(state)

    def find(self, lead: NormalisedLead) -> LeadState | None:
        """The lead the enquiry merges into, if the person has one open or a prospect."""
        hits = self._open_by_email.get(dedup.email_key(lead.contact.email) or "", []) + (
            self._open_by_phone.get(lead.contact.phone or "", [])
        )
        if not hits:
            return None
        return max(hits, key=lambda s: (s.status == "prospect", s.last_enquiry_at, str(s.id)))

    def person(self, lead: NormalisedLead) -> _Earlier:
        """What the person's earlier leads say about a new lead of theirs."""
        leads = self._all_by_email.get(dedup.email_key(lead.contact.email) or "", []) + (
            self._all_by_phone.get(lead.contact.phone or "", [])
        )
        closed = [s for s in leads if s.status not in TAKES_ENQUIRIES]
        previous = max(closed, key=lambda s: (s.last_enquiry_at, str(s.id))) if closed else None
        return _Earlier(
            previous_lead_id=previous.id if previous else None,
            do_not_contact=any(s.do_not_contact for s in leads),
        )


@dataclass
class _Batch:
    new_leads: list[tuple[dict[str, Any], LeadState]] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, IngestResult] = field(default_factory=dict)


def _resent(previous: Any) -> IngestResult:
    return IngestResult(
        outcome="resent",
        submission_id=previous.submission_id if isinstance(previous, IngestResult) else previous.id,
        lead_id=previous.lead_id,
        reason_code=previous.reason_code,
    )


def _submission_row(
    source: SourceRow,
    item: IncomingLead,
    outcome: str,
    bulk_job_id: UUID | None,
    **values: Any,
) -> dict[str, Any]:
    return {
        "id": uuid4(),
        "tenant_id": source.tenant_id,
        "source_id": source.id,
        "raw_payload_id": item.raw_payload_id,
        "bulk_job_id": bulk_job_id,
        "idempotency_key": item.idempotency_key,
        "outcome": outcome,
        "received_at": item.received_at,
        "lead_id": None,
        "reason_code": None,
        "errors": [],
        "matched_on": [],
        "vehicle": None,
        "comments": None,
        "campaign": None,
        "dealership_id": None,
        "enquiry": None,
        "promoted_to": None,
        "stage": None,
    } | values


def _reject(
    uow: IntakeUnitOfWork,
    source: SourceRow,
    item: IncomingLead,
    dealership_id: UUID,
    rejection: Rejection,
    bulk_job_id: UUID | None,
    batch: _Batch,
) -> IngestResult:
    errors = [shallow_dict(e) for e in rejection.errors]
    row = _submission_row(
        source, item, "rejected", bulk_job_id, reason_code=rejection.code, errors=errors
    )
    batch.submissions.append(row)
    uow.emit(events.lead_rejected(source, item, dealership_id, rejection, row["id"]))
    return IngestResult(
        outcome="rejected",
        submission_id=row["id"],
        reason_code=rejection.code,
        errors=rejection.errors,
    )


def _vehicle_json(vehicle: Vehicle | None) -> dict[str, Any] | None:
    if vehicle is None:
        return None
    return {
        k: (str(v) if v is not None and k == "price" else v)
        for k, v in shallow_dict(vehicle).items()
    }


def _merge(
    uow: IntakeUnitOfWork,
    source: SourceRow,
    item: IncomingLead,
    dealership_id: UUID,
    lead: NormalisedLead,
    state: LeadState,
    bulk_job_id: UUID | None,
    batch: _Batch,
) -> IngestResult:
    on = dedup.matched_on(lead.contact, state.email, state.phone)
    state.sequence += 1
    state.enquiry_count += 1
    state.last_enquiry_at = max(state.last_enquiry_at, item.received_at)
    # A new enquiry may bring the contact detail the first one lacked.
    state.email = state.email or lead.contact.email
    state.phone = state.phone or lead.contact.phone
    state.touched = not state.new
    enquiry_id = uuid4()
    # Into an open prospect: the consultant's (assignment), not a repeat for crm-queue's task.
    stage = "prospect" if state.status == "prospect" else "first_contact"
    duplicate = events.lead_duplicate_payload(
        source, item, dealership_id, lead, state, enquiry_id, on, stage=stage
    )
    row = _submission_row(
        source,
        item,
        "merged",
        bulk_job_id,
        id=enquiry_id,
        lead_id=state.id,
        matched_on=on,
        vehicle=_vehicle_json(lead.vehicle),
        comments=lead.comments,
        campaign=lead.campaign,
        dealership_id=dealership_id,
        # Kept whole: should the lead turn out closed before this came, it becomes a new lead
        # (or, a prospect, it goes to the consultant).
        enquiry=to_jsonable_python(duplicate),
        stage=stage,
    )
    batch.submissions.append(row)
    if state.new:  # merged into a lead of this same batch: keep its insert row current
        for lead_row, new_state in batch.new_leads:
            if new_state is state:
                lead_row.update(
                    sequence=state.sequence,
                    enquiry_count=state.enquiry_count,
                    last_enquiry_at=state.last_enquiry_at,
                    email=state.email,
                    phone=state.phone,
                )
    uow.emit(events.lead_duplicate(source, state, item, duplicate))
    return IngestResult(
        outcome="merged", submission_id=row["id"], lead_id=state.id, matched_on=tuple(on)
    )


def _create(
    uow: IntakeUnitOfWork,
    source: SourceRow,
    item: IncomingLead,
    dealership_id: UUID,
    lead: NormalisedLead,
    bulk_job_id: UUID | None,
    batch: _Batch,
    place: DealershipPlace | None = None,
    *,
    follows: _Earlier,
) -> IngestResult:
    """A new lead; `follows`: the person's closed lead it follows, and whether the person
    asked never to be contacted (the lead is then recorded, and says so, but nobody calls)."""
    lead_id = uuid4()
    c = lead.contact
    row = {
        "id": lead_id,
        "tenant_id": source.tenant_id,
        "dealership_id": dealership_id,
        "source_id": source.id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "phone": c.phone,
        "other_phones": list(c.other_phones),
        "vehicle": _vehicle_json(lead.vehicle),
        "trade_ins": [_vehicle_json(v) for v in lead.trade_ins],
        "comments": lead.comments,
        "consent": shallow_dict(lead.consent),
        "campaign": lead.campaign,
        "channel": lead.channel,
        "lead_type": lead.lead_type,
        "provider": lead.provider,
        "source_lead_id": lead.source_lead_id,
        "extensions": lead.extensions,
        "warnings": [shallow_dict(w) for w in lead.warnings],
        "requested_at": lead.requested_at,
        "received_at": item.received_at,
        "last_enquiry_at": item.received_at,
        "enquiry_count": 1,
        "status": "open",
        "sequence": 1,
        "previous_lead_id": follows.previous_lead_id,
        "do_not_contact": follows.do_not_contact,
    }
    state = LeadState(
        id=lead_id,
        dealership_id=dealership_id,
        email=c.email,
        phone=c.phone,
        last_enquiry_at=item.received_at,
        enquiry_count=1,
        sequence=1,
        status="open",
        do_not_contact=follows.do_not_contact,
        new=True,
    )
    batch.new_leads.append((row, state))
    sub = _submission_row(
        source,
        item,
        "ingested",
        bulk_job_id,
        lead_id=lead_id,
        vehicle=row["vehicle"],
        comments=lead.comments,
        campaign=lead.campaign,
    )
    batch.submissions.append(sub)
    uow.emit(
        events.lead_ingested(
            source,
            item,
            dealership_id,
            lead,
            lead_id,
            place,
            previous_lead_id=follows.previous_lead_id,
            do_not_contact=follows.do_not_contact,
        )
    )
    return IngestResult(outcome="ingested", submission_id=sub["id"], lead_id=lead_id)

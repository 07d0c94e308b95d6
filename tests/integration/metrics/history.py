"""A known funnel history (March 2026, tenant acme) whose KPIs are computed by hand in the tests.

Leads (d = dealership, web costs 10.00 EUR a lead, mkt 20.00):
- L1 d1 web  in 03-02 10:00, attempt by ana after 240 s, qualified by ana, assigned cara,
  won by cara 03-05 (30000 EUR); a duplicate D1 from mkt at 15:00 (another source: a credit).
- L2 d1 web  in 03-02 12:00, attempts by ana (first after 600 s), lost no_interest.other_car
  after 2 attempts; a duplicate D2 from web (same source: no credit).
- L3 d1 mkt  in 03-03 09:00, SLA breached 09:15, attempt by bob after 3600 s, qualified by bob,
  assigned cara, reassigned to dan, lost by dan (prospect.price) 03-06, reactivated 03-10,
  assigned dan, won by dan 03-12 (20000 EUR, reactivated).
- L4 d2 mkt  in 03-04 08:00, attempts 1..6 by bob (first after 1200 s), lost
  not_reached.max_attempts after 6 attempts 03-10, bought elsewhere (other brand) 03-20.
- L5 d1 web  in 03-05, written off by ana as pollution.test (0 attempts).
- L6 d2 web  in 03-06 10:00, returning (previous_lead_id = L2), SLA breached, no attempt yet.
- L7 d1 web  in 2026-02-20, qualified 02-21 by ana, assigned cara 02-21, won by cara 03-03
  (10000 EUR): a February lead, a March sale.
- R1 d1 mkt rejected pollution.test 03-03; R2 d2 web rejected invalid.personal_data 03-04.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.contracts import (
    CallReceivedV1,
    FieldErrorV1,
    LeadBoughtElsewhereV1,
    LeadContactAttemptedV1,
    LeadDuplicateV1,
    LeadIngestedV1,
    LeadLostV1,
    LeadQualifiedV1,
    LeadReactivatedV1,
    LeadRejectedV1,
    LeadSlaBreachedV1,
    LostReasonCategory,
    LostReasonCode,
    PersonErasedV1,
    PersonV1,
    ProspectAssignedV1,
    ProspectLostV1,
    ProspectReassignedV1,
    ProspectWonV1,
    QualifyingOutcome,
    SourceRefV1,
    new_envelope,
)

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
WEB = SourceRefV1(
    source_id="web", kind="website", name="Own site", cost_per_lead=Decimal("10.00"), currency="EUR"
)
MKT = SourceRefV1(
    source_id="mkt",
    kind="marketplace",
    name="Marketplace",
    campaign="spring",
    cost_per_lead=Decimal("20.00"),
    currency="EUR",
)


def at(day: int, hour: int = 10, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Message:
    """One event to publish: its envelope and, when needed, payload fields newer than the
    contracts (sent as received)."""

    envelope: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def routing_key(self) -> str:
        return str(self.envelope.routing_key)

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.UUID(str(self.envelope.event_id))

    def body(self) -> bytes:
        if not self.extra:
            return bytes(self.envelope.to_json_bytes())
        data = json.loads(self.envelope.to_json_bytes())
        data["payload"] |= self.extra
        return json.dumps(data).encode()


class History:
    def __init__(self, tenant: str = "acme") -> None:
        self.tenant = tenant
        self.messages: list[Message] = []
        self.leads = {f"L{i}": uuid.uuid4() for i in range(1, 8)}
        self._seq: dict[tuple[uuid.UUID, str], int] = {}

    def _emit(
        self,
        payload_cls: type[Any],
        lead: str | None,
        dealership: str,
        extra: Any = None,
        **kw: Any,
    ) -> Message:
        lead_id = self.leads.setdefault(lead, uuid.uuid4()) if lead else None
        if lead_id is not None:
            key = (lead_id, payload_cls.producer)
            self._seq[key] = self._seq.get(key, 0) + 1
            kw["sequence"] = self._seq[key]
        envelope = new_envelope(
            payload_cls(**kw), tenant_id=self.tenant, dealership_id=dealership, lead_id=lead_id
        )
        message = Message(envelope, extra or {})
        self.messages.append(message)
        return message

    def ingested(
        self, lead: str, d: str, source: SourceRefV1, when: datetime, **extra: Any
    ) -> Message:
        email = f"{lead.lower()}.{uuid.uuid4().hex[:6]}@example.com"
        person = PersonV1(first_name="Ann", last_name=f"Roe-{lead}", email=email)
        return self._emit(
            LeadIngestedV1,
            lead,
            d,
            extra,
            source=source,
            received_at=when,
            person=person,
            comments="please call after 5",
        )

    def attempt(self, lead: str, d: str, n: int, agent: str, when: datetime) -> None:
        self._emit(
            LeadContactAttemptedV1,
            lead,
            d,
            attempt_id=uuid.uuid4(),
            attempt_number=n,
            channel="call" if n % 2 else "email",
            outcome="no_answer",
            agent_id=agent,
            attempted_at=when,
        )

    def breached(self, lead: str, d: str, when: datetime) -> None:
        self._emit(
            LeadSlaBreachedV1,
            lead,
            d,
            task_id=uuid.uuid4(),
            due_at=when,
            breached_at=when,
        )

    def qualified(self, lead: str, d: str, agent: str, when: datetime) -> None:
        self._emit(
            LeadQualifiedV1,
            lead,
            d,
            outcome=QualifyingOutcome.QUOTATION_REQUESTED,
            agent_id=agent,
            attempts=1,
            qualified_at=when,
            person=PersonV1(first_name="Ann", email=f"{lead.lower()}@example.com"),
            details="wants a quote",
        )

    def lead_lost(
        self, lead: str, d: str, code: LostReasonCode, attempts: int, agent: str, when: datetime
    ) -> None:
        self._emit(
            LeadLostV1,
            lead,
            d,
            reason_code=code,
            category=LostReasonCategory(code.split(".")[0]),
            agent_id=agent,
            attempts=attempts,
            lost_at=when,
            note="spoke to Ann Roe",
        )

    def assigned(self, lead: str, d: str, consultant: str, when: datetime) -> None:
        self._emit(
            ProspectAssignedV1,
            lead,
            d,
            consultant_id=consultant,
            reason="rule",
            assigned_at=when,
        )

    def reassigned(self, lead: str, d: str, old: str, new: str, when: datetime) -> None:
        self._emit(
            ProspectReassignedV1,
            lead,
            d,
            from_consultant_id=old,
            to_consultant_id=new,
            reason="manager",
            reassigned_at=when,
        )

    def won(
        self, lead: str, d: str, consultant: str, amount: str, when: datetime, **kw: Any
    ) -> None:
        self._emit(
            ProspectWonV1,
            lead,
            d,
            consultant_id=consultant,
            won_at=when,
            amount=Decimal(amount),
            currency="EUR",
            **kw,
        )

    def prospect_lost(
        self, lead: str, d: str, consultant: str, code: LostReasonCode, when: datetime
    ) -> None:
        self._emit(
            ProspectLostV1,
            lead,
            d,
            consultant_id=consultant,
            reason_code=code,
            category=LostReasonCategory(code.split(".")[0]),
            lost_at=when,
        )

    def duplicate(self, lead: str, d: str, source: SourceRefV1, when: datetime) -> None:
        self._emit(
            LeadDuplicateV1,
            lead,
            d,
            enquiry_id=uuid.uuid4(),
            source=source,
            matched_on=("email",),
            received_at=when,
            comments="me again",
        )

    def rejected(self, d: str, source: SourceRefV1, code: LostReasonCode, when: datetime) -> None:
        self._emit(
            LeadRejectedV1,
            None,
            d,
            raw_payload_id=uuid.uuid4(),
            source=source,
            reason_code=code,
            errors=(FieldErrorV1(field="email", reason="test address"),),
            received_at=when,
        )

    def call(self, d: str, source: SourceRefV1, phone: str, when: datetime) -> Message:
        return self._emit(
            CallReceivedV1,
            None,
            d,
            raw_payload_id=uuid.uuid4(),
            source=source,
            received_at=when,
            called_at=when,
            caller_phone=phone,
            summary=f"Phone lead from {phone}, asked about the grey Octavia",
            recording_url="https://calls.example.net/rec/1",
        )

    def reactivated(self, lead: str, d: str, when: datetime) -> None:
        self._emit(
            LeadReactivatedV1,
            lead,
            d,
            recovery_id=uuid.uuid4(),
            origin="prospect",
            previous_reason_code=LostReasonCode.PROSPECT_PRICE,
            reactivated_at=when,
        )

    def bought_elsewhere(self, lead: str, d: str, when: datetime) -> None:
        self._emit(
            LeadBoughtElsewhereV1,
            lead,
            d,
            recovery_id=uuid.uuid4(),
            same_brand=False,
            brand="BMW",
            recorded_at=when,
        )

    def erased(self, *leads: str, when: datetime = NOW) -> Message:
        envelope = new_envelope(
            PersonErasedV1(
                erasure_id=uuid.uuid4(),
                lead_ids=tuple(self.leads[lead] for lead in leads),
                requested_at=when,
                erased_at=when,
            ),
            tenant_id=self.tenant,
        )
        message = Message(envelope)
        self.messages.append(message)
        return message


def march(tenant: str = "acme") -> History:
    h = History(tenant)
    c = LostReasonCode
    h.ingested("L1", "d1", WEB, at(2, 10))
    h.attempt("L1", "d1", 1, "ana", at(2, 10, 4))
    h.qualified("L1", "d1", "ana", at(2, 11))
    h.assigned("L1", "d1", "cara", at(2, 11, 1))
    h.won("L1", "d1", "cara", "30000.00", at(5, 16))
    h.duplicate("L1", "d1", MKT, at(2, 15))

    h.ingested("L2", "d1", WEB, at(2, 12))
    h.attempt("L2", "d1", 1, "ana", at(2, 12, 10))
    h.attempt("L2", "d1", 2, "ana", at(3, 9))
    h.lead_lost("L2", "d1", c.NO_INTEREST_OTHER_CAR, 2, "ana", at(3, 9, 5))
    h.duplicate("L2", "d1", WEB, at(2, 13))

    h.ingested("L3", "d1", MKT, at(3, 9))
    h.breached("L3", "d1", at(3, 9, 15))
    h.attempt("L3", "d1", 1, "bob", at(3, 10))
    h.qualified("L3", "d1", "bob", at(3, 10, 30))
    h.assigned("L3", "d1", "cara", at(3, 10, 31))
    h.reassigned("L3", "d1", "cara", "dan", at(4, 9))
    h.prospect_lost("L3", "d1", "dan", c.PROSPECT_PRICE, at(6, 17))
    h.reactivated("L3", "d1", at(10, 9))
    h.assigned("L3", "d1", "dan", at(10, 9, 1))
    h.won("L3", "d1", "dan", "20000.00", at(12, 15), reactivated=True)

    h.ingested("L4", "d2", MKT, at(4, 8))
    for n, when in enumerate(
        [at(4, 8, 20), at(4, 15), at(6, 9), at(6, 16), at(9, 10), at(10, 11)], start=1
    ):
        h.attempt("L4", "d2", n, "bob", when)
    h.lead_lost("L4", "d2", c.NOT_REACHED_MAX_ATTEMPTS, 6, "bob", at(10, 12))
    h.bought_elsewhere("L4", "d2", at(20, 10))

    h.ingested("L5", "d1", WEB, at(5, 10))
    h.lead_lost("L5", "d1", c.POLLUTION_TEST, 0, "ana", at(5, 10, 30))

    h.ingested("L6", "d2", WEB, at(6, 10), previous_lead_id=str(h.leads["L2"]))
    h.breached("L6", "d2", at(6, 10, 15))

    h.ingested("L7", "d1", WEB, at(20, 10, month=2))
    h.attempt("L7", "d1", 1, "ana", at(20, 10, 5, month=2))
    h.qualified("L7", "d1", "ana", at(21, 10, month=2))
    h.assigned("L7", "d1", "cara", at(21, 10, 1, month=2))
    h.won("L7", "d1", "cara", "10000.00", at(3, 12))

    h.rejected("d1", MKT, c.POLLUTION_TEST, at(3, 11))
    h.rejected("d2", WEB, c.INVALID_PERSONAL_DATA, at(4, 11))
    return h


def days(n: float) -> timedelta:
    return timedelta(days=n)

"""Events intake publishes: a lead arrived (new, merged or refused), and erasures done."""

from __future__ import annotations

import hashlib
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.base import EventPayload, LeadEventPayload, UtcDatetime
from shared.contracts.common import (
    E164,
    ConsentV1,
    DealershipPlaceV1,
    FieldErrorV1,
    MatchedOn,
    OneLine,
    PersonV1,
    SourceRefV1,
    VehicleV1,
)
from shared.contracts.lost_reasons import LostReasonCode


class LeadIngestedV1(LeadEventPayload):
    """A new, normalised lead, ready for first contact."""

    event_type = "lead.ingested"
    event_version = 1
    producer = "intake"

    source: SourceRefV1
    received_at: UtcDatetime
    requested_at: UtcDatetime | None = Field(
        default=None, description="When the customer made the request, if the source says"
    )
    person: PersonV1
    vehicle: VehicleV1 | None = Field(default=None, description="Vehicle of interest")
    trade_ins: tuple[VehicleV1, ...] = ()
    comments: str | None = None
    consent: ConsentV1 = Field(default_factory=ConsentV1)
    lead_type: str | None = None
    provider: str | None = None
    source_lead_id: str | None = Field(default=None, description="The source's own lead id")
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="Source-specific data kept as received"
    )
    warnings: tuple[FieldErrorV1, ...] = Field(
        default=(), description="Input the normaliser dropped (an invalid VIN, a bad phone)"
    )
    previous_lead_id: UUID | None = Field(
        default=None,
        description="The person's earlier, closed lead this new one follows (a customer who "
        "asks again after a qualification or a loss)",
    )
    dealership: DealershipPlaceV1 | None = Field(
        default=None,
        description="The dealership's time zone and country, so first-contact SLAs count its "
        "own opening hours from its first lead",
    )
    do_not_contact: bool = Field(
        default=False,
        description="The person asked never to be contacted (a loss coded "
        "no_interest.do_not_contact, recovery's do_not_contact): the lead counts for its source "
        "but nobody may contact it; crm-queue opens no contact task for it",
    )


EnquiryStage = Literal["first_contact", "prospect"]


class LeadDuplicateV1(LeadEventPayload):
    """The same person asked again while a lead of theirs is still in first contact, or is an
    open prospect: one more enquiry on it, carried whole (contact details, vehicle, comments,
    consent).

    The envelope's `lead_id` and `dealership_id` are the existing lead's; the enquiry's own
    dealership (its source's, which may be another one) is `enquiry_dealership_id`. `stage`
    says whose it is: `first_contact` for the CRM department's task (crm-queue), `prospect`
    for the consultant (assignment records it on the prospect; crm-queue leaves it alone).
    Intake may publish one enquiry twice, under the same `enquiry_id`: first as
    `first_contact`, then as `prospect` once it learns that the lead had become a prospect
    before the enquiry came.
    """

    event_type = "lead.duplicate"
    event_version = 1
    producer = "intake"

    enquiry_id: UUID
    source: SourceRefV1 = Field(description="Where the new enquiry came from (attribution)")
    matched_on: tuple[MatchedOn, ...] = Field(min_length=1)
    received_at: UtcDatetime
    vehicle: VehicleV1 | None = None
    comments: str | None = None
    enquiry_dealership_id: str | None = Field(
        default=None,
        description="The dealership the new enquiry was addressed to (its source's, or the one "
        "it named); may differ from the lead's (the envelope's)",
    )
    person: PersonV1 | None = Field(
        default=None,
        description="The contact details as given in this enquiry (a new phone or e-mail)",
    )
    trade_ins: tuple[VehicleV1, ...] = ()
    consent: ConsentV1 | None = Field(default=None, description="Consent as given this time")
    requested_at: UtcDatetime | None = None
    lead_type: str | None = None
    source_lead_id: str | None = Field(default=None, description="The source's own lead id")
    stage: EnquiryStage = Field(
        default="first_contact",
        description="Where the lead was in the funnel when the enquiry came: `first_contact` "
        "(crm-queue's task takes it) or `prospect` (qualified or reactivated and not closed "
        "yet: an activity for the consultant, in assignment)",
    )


class LeadRejectedV1(EventPayload):
    """Input refused as invalid or polluted; the raw payload is kept. No lead exists."""

    event_type = "lead.rejected"
    event_version = 1
    producer = "intake"

    raw_payload_id: UUID
    source: SourceRefV1
    reason_code: LostReasonCode
    errors: tuple[FieldErrorV1, ...] = ()
    received_at: UtcDatetime


def contact_hash(kind: Literal["email", "phone"], value: str) -> str:
    """The hex SHA-256 of `kind:value`, the value as intake stores it (an email lower-cased, a
    phone in E.164); the same key recovery keeps its blocked contacts by. Lets a consumer find
    rows it keys on a contact (a do-not-contact list) without the event carrying the contact."""
    value = value.strip()
    if kind == "email":
        value = value.lower()
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


class PersonErasedV1(EventPayload):
    """An erasure request was carried out: every service must scrub these leads' personal data.

    Carries no personal data: the leads by id, and the person's contacts only as hashes.
    """

    event_type = "person.erased"
    event_version = 1
    producer = "intake"

    erasure_id: UUID
    lead_ids: tuple[UUID, ...]
    requested_at: UtcDatetime
    erased_at: UtcDatetime
    contact_hashes: tuple[str, ...] = Field(
        default=(),
        description="`contact_hash(kind, value)` of each email and phone erased: finds "
        "rows kept by contact rather than by lead (a do-not-contact list)",
    )


class CallReceivedV1(EventPayload):
    """A phone-call notification came in (a provider's "Phone Lead" e-mail): a call to the
    dealership, not a lead. Intake keeps the notification and makes no lead of it; whoever
    handles calls (a call-tracking view, crm-queue matching the caller to a lead) subscribes.

    The envelope's `dealership_id` is the source's; `lead_id` is null; `correlation_id` is the
    message's Message-ID (else the raw payload's id).
    """

    event_type = "call.received"
    event_version = 1
    producer = "intake"

    raw_payload_id: UUID = Field(description="The stored notification (the e-mail as received)")
    source: SourceRefV1
    received_at: UtcDatetime = Field(description="When intake received the notification")
    called_at: UtcDatetime = Field(
        description="When the call was made: the time the notification states, else its "
        "Date header (sent as the call ended), else `received_at`"
    )
    caller_phone: E164 | None = Field(
        default=None,
        description="The caller's number in E.164 (read for the dealership's country); null "
        "when withheld (`Caller Id: None`) or unreadable, see `caller_id`",
    )
    caller_id: OneLine | None = Field(
        default=None,
        description="The caller id as written when it is not a usable number (a name, "
        "`Unavailable`); null when it is `caller_phone` or absent",
    )
    duration_seconds: int | None = Field(default=None, ge=0, description="Length of the call")
    recording_url: OneLine | None = Field(
        default=None, description="A link to the call's recording, when the provider gives one"
    )
    provider: OneLine | None = Field(default=None, description="CarGurus, AutoTrader.ca, ...")
    summary: OneLine | None = Field(
        default=None,
        description="The notification's text on one line, for a person to read",
    )

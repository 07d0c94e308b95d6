"""Small models and value sets that several payloads share (people, vehicles, sources)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import WireModel

E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{1,14}$", description="E.164 phone number")]
# A person's name or address on the wire: one line, capped (intake caps them the same way), so a
# consumer refuses (dead-letters) an event whose text its database would refuse or choke on.
PersonText = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
# Any other short text on the wire that a person reads: one line, capped.
OneLine = Annotated[str, Field(max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]
EmailText = Annotated[str, Field(max_length=320, pattern=r"^[^\x00-\x1f\x7f]*$")]

Channel = Literal["call", "email", "sms", "whatsapp"]
ContactOutcome = Literal["no_answer", "voicemail", "reached", "wrong_number", "bounced"]
SourceKind = Literal["website", "marketplace", "oem", "chat", "phone", "event", "list"]
VehicleCondition = Literal["new", "used", "certified"]
MatchedOn = Literal["email", "phone"]
Origin = Literal["lead", "prospect"]


class PersonV1(WireModel):
    first_name: PersonText | None = None
    last_name: PersonText | None = None
    email: EmailText | None = Field(default=None, description="Validated, domain lower-cased")
    phone: E164 | None = None
    other_phones: tuple[E164, ...] = ()


class VehicleV1(WireModel):
    year: int | None = None
    make: str | None = None
    model: str | None = None
    trim: str | None = None
    vin: str | None = None
    stock: str | None = None
    condition: VehicleCondition | None = None
    price: Decimal | None = None
    currency: str | None = Field(default=None, description="ISO 4217 code")
    odometer: int | None = None
    odometer_units: str | None = None
    interest: str | None = Field(default=None, description="buy, lease, trade-in, ...")
    comments: str | None = None


class ConsentV1(WireModel):
    """What the person agreed to; None means the source did not say."""

    email: bool | None = None
    sms: bool | None = None
    phone: bool | None = None
    marketing: bool | None = None


class SourceRefV1(WireModel):
    """The lead source an enquiry came through, with what it costs (for cost per lead/sale)."""

    source_id: str
    kind: SourceKind
    name: str
    campaign: str | None = None
    channel: str | None = None
    cost_per_lead: Decimal | None = None
    currency: str | None = Field(default=None, description="ISO 4217 code")


class FieldErrorV1(WireModel):
    field: str = Field(description="Dotted path of the offending input field")
    reason: str
    value: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="The text as the source wrote it, when it is kept for a person to read "
        "(a phone number that does not parse, a name dropped as a placeholder)",
    )


class DealershipPlaceV1(WireModel):
    """Where a dealership is: its clock and country, as intake's admin set them."""

    timezone: str = Field(max_length=64, description="IANA time zone, e.g. America/Toronto")
    country: str = Field(max_length=2, description="ISO 3166 alpha-2 region")

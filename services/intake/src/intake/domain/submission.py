"""What a lead source sends, before normalisation.

This is the body of `POST /v1/leads` and of a message on `forecourt.intake.raw`; the ADF and CSV
adapters produce the same shape, so every way in meets one normaliser. Values are kept as the
source wrote them (strings, odd formats): cleaning them up is `domain.normalise`'s job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from intake.domain import clean

# Every text field loses its control characters here, whichever way the lead came in (JSON,
# ADF, CSV, AMQP): NUL and friends never reach the normaliser or the database.
Line = Annotated[str, AfterValidator(clean.one_line)]
Text = Annotated[str, AfterValidator(clean.multi_line)]  # free text: keeps tabs and line breaks
Json = Annotated[dict[str, Any], AfterValidator(clean.deep)]


class _Tolerant(BaseModel):
    # Sources add fields we do not know; keep reading, never fail on them.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class VehicleIn(_Tolerant):
    year: Line | int | None = None
    make: Line | None = None
    model: Line | None = None
    trim: Line | None = None
    vin: Line | None = None
    stock: Line | None = None
    condition: Line | None = Field(default=None, description="new, used, certified (as sent)")
    price: Line | float | int | None = None
    currency: Line | None = None
    odometer: Line | int | None = None
    odometer_units: Line | None = None
    interest: Line | None = Field(
        default=None, description="buy, lease, sell, trade-in, test-drive"
    )
    comments: Text | None = None


class ConsentIn(_Tolerant):
    email: bool | None = None
    sms: bool | None = None
    phone: bool | None = None
    marketing: bool | None = None


class LeadSubmission(_Tolerant):
    """One lead as a source submits it."""

    dealership_id: Line | None = Field(
        default=None, description="defaults to the source's dealership"
    )
    source_lead_id: Line | None = Field(
        default=None, description="the provider's own lead id: a resent lead is a no-op"
    )
    requested_at: datetime | None = None
    first_name: Line | None = None
    last_name: Line | None = None
    full_name: Line | None = None
    email: Line | None = None
    phone: Line | None = None
    other_phones: list[Line] = Field(default_factory=list)
    vehicle: VehicleIn | None = None
    trade_ins: list[VehicleIn] = Field(default_factory=list)
    comments: Text | None = None
    consent: ConsentIn = Field(default_factory=ConsentIn)
    campaign: Line | None = None
    channel: Line | None = Field(default=None, description="sub-channel, e.g. 'Truecar/Perkspot'")
    lead_type: Line | None = None
    provider: Line | None = None
    extensions: Json = Field(
        default_factory=dict, description="elements the format does not define, kept as sent"
    )

"""What a lead source sends, before normalisation.

This is the body of `POST /v1/leads` and of a message on `forecourt.intake.raw`; the ADF and CSV
adapters produce the same shape, so every way in meets one normaliser. Values are kept as the
source wrote them (strings, odd formats): cleaning them up is `domain.normalise`'s job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Tolerant(BaseModel):
    # Sources add fields we do not know; keep reading, never fail on them.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class VehicleIn(_Tolerant):
    year: str | int | None = None
    make: str | None = None
    model: str | None = None
    trim: str | None = None
    vin: str | None = None
    stock: str | None = None
    condition: str | None = Field(default=None, description="new, used, certified (as sent)")
    price: str | float | int | None = None
    currency: str | None = None
    odometer: str | int | None = None
    odometer_units: str | None = None
    interest: str | None = Field(default=None, description="buy, lease, sell, trade-in, test-drive")
    comments: str | None = None


class ConsentIn(_Tolerant):
    email: bool | None = None
    sms: bool | None = None
    phone: bool | None = None
    marketing: bool | None = None


class LeadSubmission(_Tolerant):
    """One lead as a source submits it."""

    dealership_id: str | None = Field(
        default=None, description="defaults to the source's dealership"
    )
    source_lead_id: str | None = Field(
        default=None, description="the provider's own lead id: a resent lead is a no-op"
    )
    requested_at: datetime | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    other_phones: list[str] = Field(default_factory=list)
    vehicle: VehicleIn | None = None
    trade_ins: list[VehicleIn] = Field(default_factory=list)
    comments: str | None = None
    consent: ConsentIn = Field(default_factory=ConsentIn)
    campaign: str | None = None
    channel: str | None = Field(default=None, description="sub-channel, e.g. 'Truecar/Perkspot'")
    lead_type: str | None = None
    provider: str | None = None
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="elements the format does not define, kept as sent"
    )

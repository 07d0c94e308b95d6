"""Intake's domain: a lead after normalisation, or the reason it was refused. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Condition = Literal["new", "used", "certified"]


def shallow_dict(value: Any) -> dict[str, Any]:
    """A flat dataclass's fields as a dict. `dataclasses.asdict` copies recursively and
    was a fifth of bulk intake's CPU; these dataclasses hold plain values only."""
    return dict(value.__dict__)


@dataclass(frozen=True)
class Vehicle:
    year: int | None = None
    make: str | None = None
    model: str | None = None
    trim: str | None = None
    vin: str | None = None
    stock: str | None = None
    condition: Condition | None = None
    price: Decimal | None = None
    currency: str | None = None
    odometer: int | None = None
    odometer_units: str | None = None
    interest: str | None = None
    comments: str | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())


@dataclass(frozen=True)
class Consent:
    email: bool | None = None
    sms: bool | None = None
    phone: bool | None = None
    marketing: bool | None = None


@dataclass(frozen=True)
class Contact:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None  # validated, domain lower-cased
    phone: str | None = None  # E.164
    other_phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class NormalisedLead:
    contact: Contact
    vehicle: Vehicle | None = None
    trade_ins: tuple[Vehicle, ...] = ()
    comments: str | None = None
    consent: Consent = field(default_factory=Consent)
    campaign: str | None = None
    channel: str | None = None
    lead_type: str | None = None
    provider: str | None = None
    requested_at: datetime | None = None
    source_lead_id: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    # Things the normaliser dropped but a person may want to know (an invalid VIN, a bad phone).
    warnings: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str
    # The text as written, kept where a person should still read it (a phone that does not
    # parse stays readable for the agent). Never set on a rejection's errors.
    value: str | None = None


@dataclass(frozen=True)
class DealershipPlace:
    """Where a dealership is: phone numbers are read in its country, bare times in its zone."""

    country: str  # ISO 3166 alpha-2
    timezone: str  # IANA


@dataclass(frozen=True)
class Rejection:
    """A lead refused at intake. `code` is a lost-reason code from spec/funnel.md."""

    code: str
    errors: tuple[FieldError, ...] = ()

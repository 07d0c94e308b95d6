"""What a lead source sends, before normalisation.

This is the body of `POST /v1/leads` and of a message on `forecourt.intake.raw`; the ADF and CSV
adapters produce the same shape, so every way in meets one normaliser. Values are kept as the
source wrote them (strings, odd formats): cleaning them up is `domain.normalise`'s job.

Two things are enforced here for every way in (JSON, ADF, CSV, AMQP), because nothing after
this point should have to distrust a value's size or bytes:
- control characters are removed (free text keeps tabs and line breaks): NUL and friends never
  reach the normaliser or the database;
- every text field has a length cap and every list a maximum length (`LIMITS`, documented in
  docs/operations.md); past one the lead is refused with the field and the reason (422).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from intake.domain import clean, dates

# Characters per text field, items per list.
NAME: Final = 200  # first, last, full name
EMAIL: Final = 320  # 64 + @ + 255, the most an address can be
PHONE: Final = 64  # as written: "+1 (519) 555-0123 ext. 4567"
LABEL: Final = 200  # ids, campaign, channel, lead type, provider, dealership id
VEHICLE: Final = 100  # each one-line vehicle field (make, model, VIN, price as text...)
COMMENTS: Final = 10_000  # lead and vehicle comments
OTHER_PHONES: Final = 20
TRADE_INS: Final = 10
# `extensions` (elements a format does not define, kept as sent): a JSON value this deep, with
# at most this many keys or items per object or list, and strings and keys capped like comments
# and labels.
EXTENSION_DEPTH: Final = 10
EXTENSION_ITEMS: Final = 100
EXTENSION_TEXT: Final = COMMENTS
EXTENSION_KEY: Final = LABEL

LIMITS: Final = {
    "first_name, last_name, full_name": NAME,
    "email": EMAIL,
    "phone, each of other_phones": PHONE,
    "dealership_id, source_lead_id, campaign, channel, lead_type, provider": LABEL,
    "vehicle and trade-in fields but comments": VEHICLE,
    "comments, vehicle comments": COMMENTS,
    "other_phones (items)": OTHER_PHONES,
    "trade_ins (items)": TRADE_INS,
}


_OneLine = AfterValidator(clean.one_line)
Name = Annotated[str, Field(max_length=NAME), _OneLine]
Email = Annotated[str, Field(max_length=EMAIL), _OneLine]
Phone = Annotated[str, Field(max_length=PHONE), _OneLine]
Label = Annotated[str, Field(max_length=LABEL), _OneLine]
Short = Annotated[str, Field(max_length=VEHICLE), _OneLine]


def _short_text_first(value: Any) -> Any:
    # For a text-or-number field: the cap checked before the union, so an error names the
    # field itself (not each member of the union).
    if isinstance(value, str) and len(value) > VEHICLE:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": VEHICLE},
        )
    return value


ShortOrNumber = BeforeValidator(_short_text_first)
# Free text: keeps tabs and line breaks.
Comments = Annotated[str, Field(max_length=COMMENTS), AfterValidator(clean.multi_line)]


def _extensions(value: dict[str, Any]) -> dict[str, Any]:
    _check_json(value, "extensions", 1)
    cleaned: dict[str, Any] = clean.deep(value)
    return cleaned


def _check_json(value: Any, path: str, depth: int) -> None:
    """Raises ValueError naming the place in `extensions` that is over a limit."""
    if isinstance(value, str):
        if len(value) > EXTENSION_TEXT:
            raise ValueError(f"{path}: longer than {EXTENSION_TEXT} characters")
        return
    if not isinstance(value, dict | list):
        return
    if depth > EXTENSION_DEPTH:
        raise ValueError(f"{path}: nested deeper than {EXTENSION_DEPTH} levels")
    if len(value) > EXTENSION_ITEMS:
        raise ValueError(f"{path}: more than {EXTENSION_ITEMS} entries")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", depth + 1)
        return
    for key, item in value.items():
        if len(str(key)) > EXTENSION_KEY:
            raise ValueError(f"{path}: a key longer than {EXTENSION_KEY} characters")
        _check_json(item, f"{path}.{clean.one_line(str(key))}", depth + 1)


Extensions = Annotated[dict[str, Any], AfterValidator(_extensions)]


def _lenient_datetime(value: Any) -> Any:
    # `-08` or `2025-9-22 18:07` are dates pydantic refuses whole; read them as ADF's are.
    if isinstance(value, str) and (when := dates.read_datetime(value)) is not None:
        return when
    return value


# Without a zone it is the dealership's wall time (`normalise` reads it there).
LenientDatetime = Annotated[datetime, BeforeValidator(_lenient_datetime)]


class _Tolerant(BaseModel):
    # Sources add fields we do not know; keep reading, never fail on them.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class VehicleIn(_Tolerant):
    year: Annotated[Short | int | None, ShortOrNumber] = None
    make: Short | None = None
    model: Short | None = None
    trim: Short | None = None
    vin: Short | None = None
    stock: Short | None = None
    condition: Short | None = Field(default=None, description="new, used, certified (as sent)")
    price: Annotated[Short | float | int | None, ShortOrNumber] = None
    currency: Short | None = None
    odometer: Annotated[Short | int | None, ShortOrNumber] = None
    odometer_units: Short | None = None
    interest: Short | None = Field(
        default=None, description="buy, lease, sell, trade-in, test-drive"
    )
    comments: Comments | None = None


class ConsentIn(_Tolerant):
    email: bool | None = None
    sms: bool | None = None
    phone: bool | None = None
    marketing: bool | None = None


class LeadSubmission(_Tolerant):
    """One lead as a source submits it."""

    dealership_id: Label | None = Field(
        default=None, description="defaults to the source's dealership"
    )
    source_lead_id: Label | None = Field(
        default=None, description="the provider's own lead id: a resent lead is a no-op"
    )
    requested_at: LenientDatetime | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    full_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    other_phones: list[Phone] = Field(default_factory=list, max_length=OTHER_PHONES)
    vehicle: VehicleIn | None = None
    trade_ins: list[VehicleIn] = Field(default_factory=list, max_length=TRADE_INS)
    comments: Comments | None = None
    consent: ConsentIn = Field(default_factory=ConsentIn)
    campaign: Label | None = None
    channel: Label | None = Field(default=None, description="sub-channel, e.g. 'Truecar/Perkspot'")
    lead_type: Label | None = None
    provider: Label | None = None
    extensions: Extensions = Field(
        default_factory=dict, description="elements the format does not define, kept as sent"
    )

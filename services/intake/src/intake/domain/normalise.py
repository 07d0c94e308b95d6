"""Turn a `LeadSubmission` (values as a source wrote them) into a `NormalisedLead`, or refuse it.

Pure: no I/O. Values we cannot use are dropped and reported as warnings on the lead, so a person
can see what the source got wrong; only a test lead or a lead nobody can contact is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from intake.domain.model import (
    Condition,
    Consent,
    Contact,
    FieldError,
    NormalisedLead,
    Rejection,
    Vehicle,
)
from intake.domain.submission import LeadSubmission, VehicleIn
from intake.domain.test_rules import TestLeadRules
from shared.contracts.lost_reasons import LostReasonCode

__all__ = ["ContactCache", "TestLeadRules", "normalise"]

_WS = re.compile(r"\s+")

# Values sources put in name fields when they have no name (compared case-insensitively).
_PLACEHOLDER_NAMES = frozenset(
    {
        "unknown", "name", "n/a", "na", "none", "null", "-", ".", "x", "customer", "no name",
        "first", "last", "first name", "last name", "undefined",
    }
)  # fmt: skip
# Values meaning "nothing" in free-text vehicle fields.
_EMPTY_VALUES = frozenset({"n/a", "na", "none", "null", "not specified", "unknown", "-", "."})
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})

_CONDITIONS: dict[str, Condition] = {
    "new": "new",
    "used": "used",
    "pre-owned": "used",
    "preowned": "used",
    "pre owned": "used",
    "demo": "used",
    "demonstrator": "used",
    "certified": "certified",
    "cpo": "certified",
    "certified pre-owned": "certified",
    "certified preowned": "certified",
    "certified pre owned": "certified",
    "certified used": "certified",
}
_VIN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")  # 17 characters, never I, O or Q
# No two adjacent parts can match the same spaces (an optional part takes its own trailing
# spaces, the number ends on a digit or separator): with `\s*(...)?\s*` runs, a 100-character
# "1      x" took 57 ms of backtracking, 2,000 characters minutes.
_PRICE = re.compile(
    r"(?:(?P<pre>[A-Za-z]{3})\s*)?(?:(?P<neg>-)\s*)?(?:(?P<sym>[$€£])\s*)?"
    r"(?P<num>-?\d(?:[\d,.\s]*[\d,.])?)"
    r"\s*(?:(?P<sym2>[€£])\s*)?(?P<post>[A-Za-z]{3})?"
)
# "$" alone does not say which dollar, so it gives no currency.
_SIGN_CURRENCY = {"€": "EUR", "£": "GBP"}
_ODOMETER = re.compile(
    r"(?P<num>\d(?:[\d,.\s]*[\d,.])?)\s*(?P<unit>km|kms|kilometers|kilometres|mi|miles)?"
)
_ODOMETER_UNITS = {"kms": "km", "kilometers": "km", "kilometres": "km", "miles": "mi"}
_MIN_YEAR = 1900

_WarnFn = Callable[[str, str], None]
WARNING_TEXT = 200  # characters of the original text a warning keeps (FieldErrorV1.value)


class ContactCache:
    """Emails and phones already read, by their text as written (and the phone's region).

    Reading them (email_validator, phonenumbers) is the costliest part of normalising, and a
    bulk file repeats people. One per bulk job, so the personal data it holds goes with the job
    (an erasure never finds a copy here later); bounded: cleared when it grows past `limit`.
    Only exact texts are shared: results depend on nothing else.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._limit = limit
        self._emails: dict[str, tuple[str | None, str | None]] = {}
        self._phones: dict[tuple[str | None, str], tuple[str | None, str | None]] = {}

    def email(self, value: str | None) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        found = self._emails.get(value)
        if found is None:
            if len(self._emails) >= self._limit:
                self._emails.clear()
            found = self._emails[value] = _email(value)
        return found

    def phone(self, value: str | None, region: str) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        key = (value, region)
        found = self._phones.get(key)
        if found is None:
            if len(self._phones) >= self._limit:
                self._phones.clear()
            found = self._phones[key] = _phone(value, region)
        return found


def normalise(
    sub: LeadSubmission,
    *,
    country: str,
    rules: TestLeadRules,
    today: date | None = None,
    timezone: str = "UTC",
    cache: ContactCache | None = None,
) -> NormalisedLead | Rejection:
    """`country`: the dealership's ISO 3166 alpha-2 region, used to read national phone numbers.
    `timezone`: the dealership's IANA zone; a request date written without a zone is its wall
    time (a provider writes the dealership's local time, not UTC). `cache`: emails and phones
    read before (a bulk job's), else each is read anew.

    `today` only fixes the latest acceptable model year (current year + 2) in tests.
    """
    region = country.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {country!r}")
    warnings: list[FieldError] = []

    first, last = _names(sub, warnings)
    email, email_problem = cache.email(sub.email) if cache else _email(sub.email)
    email_raw = _strip_mailto(sub.email)
    if email_problem:
        warnings.append(FieldError("email", email_problem))
    read_phone = cache.phone if cache else _phone
    phone, other_phones, phone_problem = _phones(
        sub.phone, sub.other_phones, region, warnings, read_phone
    )
    comments = _comments(sub.comments)

    full = _text(sub.full_name)
    composed = " ".join(p for p in (first, last) if p)
    test_hits = rules.check(
        {
            "first_name": _present(first),
            "last_name": _present(last),
            "full_name": _present(full, composed),
            "email": _present(email or email_raw),
            # As written and as E.164, so a tenant's rule may use either form.
            "phone": _present(
                *(_text(p) for p in [sub.phone, *sub.other_phones]), phone, *other_phones
            ),
            "comments": _present(comments),
        }
    )
    if test_hits:
        return Rejection(LostReasonCode.POLLUTION_TEST.value, test_hits)
    if email is None and phone is None:
        return Rejection(
            LostReasonCode.INVALID_PERSONAL_DATA.value,
            (
                FieldError("email", email_problem or "missing"),
                FieldError("phone", phone_problem or "missing"),
            ),
        )

    max_year = (today or date.today()).year + 2
    vehicle = _vehicle(sub.vehicle, "vehicle", max_year, warnings)
    trade_ins = tuple(
        t
        for i, raw in enumerate(sub.trade_ins)
        if (t := _vehicle(raw, f"trade_ins[{i}]", max_year, warnings)) is not None
    )
    requested_at = sub.requested_at
    if requested_at is not None and requested_at.utcoffset() is None:
        requested_at = requested_at.replace(tzinfo=_zone(timezone)).astimezone(UTC)

    return NormalisedLead(
        contact=Contact(
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            other_phones=other_phones,
        ),
        vehicle=vehicle,
        trade_ins=trade_ins,
        comments=comments,
        consent=Consent(
            email=sub.consent.email,
            sms=sub.consent.sms,
            phone=sub.consent.phone,
            marketing=sub.consent.marketing,
        ),
        campaign=_text(sub.campaign),
        channel=_text(sub.channel),
        lead_type=_text(sub.lead_type),
        provider=_text(sub.provider),
        requested_at=requested_at,
        source_lead_id=_text(sub.source_lead_id),
        extensions=dict(sub.extensions),
        warnings=tuple(warnings),
    )


def _text(value: str | None) -> str | None:
    """Trim and collapse whitespace; empty becomes None."""
    if value is None:
        return None
    cleaned = _WS.sub(" ", value).strip()
    return cleaned or None


def _present(*values: str | None) -> list[str]:
    return [v for v in values if v]


def _value(value: str | None) -> str | None:
    cleaned = _text(value)
    return None if cleaned is None or cleaned.casefold() in _EMPTY_VALUES else cleaned


# --- names -------------------------------------------------------------------------------------


def _names(sub: LeadSubmission, warnings: list[FieldError]) -> tuple[str | None, str | None]:
    first, last = _name(sub.first_name), _name(sub.last_name)
    _warn_dropped("first_name", sub.first_name, first, warnings)
    _warn_dropped("last_name", sub.last_name, last, warnings)
    if first is None or last is None:
        # Fill only what the split fields lack: they are the more precise source.
        full_first, full_last = _split_full(sub.full_name)
        first, last = first or full_first, last or full_last
        _warn_dropped("full_name", sub.full_name, full_first or full_last, warnings)
    return first, last


def _warn_dropped(
    field: str, raw: str | None, kept: str | None, warnings: list[FieldError]
) -> None:
    """A name written but not kept ("Unknown", "--") stays visible, as written."""
    written = _text(raw)
    if written is not None and kept is None:
        warnings.append(FieldError(field, "dropped: a placeholder, not a name", _kept(written)))


def _kept(text: str) -> str:
    return text[:WARNING_TEXT]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # a zone intake's admin route let through; never fail a lead


def _name(value: str | None) -> str | None:
    cleaned = _text(value)
    if cleaned is None or cleaned.casefold() in _PLACEHOLDER_NAMES:
        return None
    if not any(c.isalpha() for c in cleaned):
        return None  # "--", "123": not a name
    if cleaned.islower() or cleaned.isupper():
        # Only fix a name written in one case; "DeShawn" or "McKay" are kept as written.
        cleaned = re.sub(r"[^\W\d_]+", lambda m: _capitalise(m.group()), cleaned.lower())
    return cleaned


def _capitalise(word: str) -> str:
    if word.startswith("mc") and len(word) > 3:
        return "Mc" + word[2:].capitalize()
    return word.capitalize()


def _split_full(value: str | None) -> tuple[str | None, str | None]:
    cleaned = _text(value)
    if cleaned is None or cleaned.casefold() in _PLACEHOLDER_NAMES:
        return None, None
    if cleaned.count(",") == 1:  # "Doe, Jane"
        last, first = cleaned.split(",")
        return _name(first), _name(last)
    tokens = cleaned.split(" ")
    if len(tokens) == 1:
        return _name(tokens[0]), None
    cut = len(tokens) - 1
    if len(tokens) > 2 and tokens[-1].rstrip(".").casefold() in _NAME_SUFFIXES:
        cut -= 1  # "John Smith Jr." -> last name "Smith Jr."
    return _name(" ".join(tokens[:cut])), _name(" ".join(tokens[cut:]))


# --- contact details ---------------------------------------------------------------------------


def _strip_mailto(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    if cleaned[:7].casefold() == "mailto:":
        cleaned = cleaned[7:].split("?", 1)[0].strip()  # mailto:x@y?subject=...
    return cleaned or None


def _email(value: str | None) -> tuple[str | None, str | None]:
    """(email, why it was dropped). `normalized` keeps the local part and lower-cases the domain."""
    cleaned = _strip_mailto(value)
    if cleaned is None:
        return None, None
    try:
        result = validate_email(cleaned, check_deliverability=False, allow_display_name=True)
    except EmailNotValidError as exc:
        return None, f"not a valid email address: {exc}"
    return result.normalized, None


def _phone(value: str | None, region: str) -> tuple[str | None, str | None]:
    """(E.164 number, why it was dropped)."""
    cleaned = _text(value)
    if cleaned is not None and cleaned[:4].casefold() == "tel:":
        cleaned = cleaned[4:].strip()
    if not cleaned:
        return None, None
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return None, "not a phone number"
    # is_valid_number knows real area codes: "(000) 000-0000", "555-1234", "393-..." all fail.
    if not phonenumbers.is_valid_number(number):
        return None, f"not a valid phone number (read for region {region})"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def phone_e164(value: str | None, country: str) -> str | None:
    """A phone number as written, in E.164 when it is a valid one (read for `country`)."""
    region = country.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    return _phone(value, region)[0]


def _phones(
    primary_raw: str | None,
    others_raw: list[str],
    region: str,
    warnings: list[FieldError],
    read: Callable[[str | None, str], tuple[str | None, str | None]] = _phone,
) -> tuple[str | None, tuple[str, ...], str | None]:
    """(primary, other phones, why the primary was dropped)."""
    primary, problem = read(primary_raw, region)
    if problem:
        # Kept as written: the agent can still read "555-CALL-NOW ext 12" and try it.
        warnings.append(FieldError("phone", problem, _kept(_text(primary_raw) or "")))
    others: dict[str, None] = {}  # an ordered set: de-duplicating stays linear
    for i, raw in enumerate(others_raw):
        number, other_problem = read(raw, region)
        if other_problem:
            warnings.append(
                FieldError(f"other_phones[{i}]", other_problem, _kept(_text(raw) or ""))
            )
        elif number and number != primary:
            others[number] = None
    numbers = list(others)
    if primary is None and numbers:
        primary = numbers.pop(0)  # a usable other phone beats none
    return primary, tuple(numbers), problem


def _comments(value: str | None) -> str | None:
    if value is None:
        return None
    lines = [line.rstrip() for line in value.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text or None


# --- vehicles ----------------------------------------------------------------------------------


def _vehicle(
    raw: VehicleIn | None, path: str, max_year: int, warnings: list[FieldError]
) -> Vehicle | None:
    if raw is None:
        return None

    def warn(name: str, reason: str) -> None:
        warnings.append(FieldError(f"{path}.{name}", reason))

    price, currency = _price(raw.price, raw.currency, warn)
    odometer, units = _odometer(raw.odometer, warn)
    vehicle = Vehicle(
        year=_year(raw.year, max_year, warn),
        make=_value(raw.make),
        model=_value(raw.model),
        trim=_value(raw.trim),
        vin=_vin(raw.vin, warn),
        stock=_value(raw.stock),
        condition=_condition(raw.condition, warn),
        price=price,
        currency=currency,
        odometer=odometer,
        odometer_units=_unit(raw.odometer_units) or units,
        interest=_value(raw.interest),
        comments=_comments(raw.comments),
    )
    return None if vehicle.is_empty() else vehicle


def _year(value: str | int | None, max_year: int, warn: _WarnFn) -> int | None:
    text = _value(value) if isinstance(value, str) else value
    if text is None:
        return None
    if isinstance(text, str):
        if not re.fullmatch(r"\d{4}", text):
            warn("year", "not a four-digit year")
            return None
        text = int(text)
    if not _MIN_YEAR <= text <= max_year:
        warn("year", f"not between {_MIN_YEAR} and {max_year}")
        return None
    return text


def _vin(value: str | None, warn: _WarnFn) -> str | None:
    cleaned = _value(value)
    if cleaned is None:
        return None
    vin = _WS.sub("", cleaned).upper()
    if not _VIN.fullmatch(vin):
        warn("vin", "not 17 characters of A-Z (without I, O, Q) and 0-9")
        return None
    return vin


def _condition(value: str | None, warn: _WarnFn) -> Condition | None:
    cleaned = _value(value)
    if cleaned is None:
        return None
    condition = _CONDITIONS.get(cleaned.casefold().replace("_", " "))
    if condition is None:
        warn("condition", "not new, used or certified")
    return condition


def _price(
    value: str | float | None, currency_raw: str | None, warn: _WarnFn
) -> tuple[Decimal | None, str | None]:
    currency = _currency(currency_raw, warn)
    if value is None or isinstance(value, bool):
        return None, currency
    if isinstance(value, int | float):
        amount: Decimal | None = Decimal(str(value))  # str(): no binary float noise
    else:
        text = _value(value)
        if text is None:
            return None, currency
        match = _PRICE.fullmatch(text)
        if match is None:
            warn("price", "not an amount")
            return None, currency
        amount = _decimal(match["num"])
        if amount is not None and match["neg"]:
            amount = -amount
        code = (match["pre"] or match["post"] or "").upper() or _SIGN_CURRENCY.get(
            match["sym"] or match["sym2"] or ""
        )
        currency = currency or code  # an explicit currency field wins
    if amount is None or amount < 0:
        warn("price", "not a positive amount")
        return None, currency
    if amount == 0:
        return None, currency  # "0" is how listings say "call for price"
    return amount, currency


def _currency(value: str | None, warn: _WarnFn) -> str | None:
    cleaned = _value(value)
    if cleaned is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", cleaned):
        warn("currency", "not an ISO 4217 code")
        return None
    return cleaned.upper()


def _decimal(text: str) -> Decimal | None:
    """Read "21,995", "1,000.50", "1.000,50", "24845.0"; a lone "." is a decimal point."""
    number = _WS.sub("", text)
    negative = number.startswith("-")
    number = number.lstrip("-")
    if "," in number and "." in number:
        thousands = "," if number.rfind(",") < number.rfind(".") else "."
        number = number.replace(thousands, "").replace(",", ".")
    elif "," in number:
        if re.fullmatch(r"\d{1,3}(,\d{3})+", number):
            number = number.replace(",", "")
        elif re.fullmatch(r"\d+,\d{1,2}", number):
            number = number.replace(",", ".")
        else:
            return None
    elif re.fullmatch(r"\d{1,3}(\.\d{3}){2,}", number):
        number = number.replace(".", "")  # 1.000.000
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None
    return -amount if negative else amount


def _odometer(value: str | int | None, warn: _WarnFn) -> tuple[int | None, str | None]:
    if value is None or isinstance(value, bool):
        return None, None
    unit: str | None = None
    if isinstance(value, int):
        amount: Decimal | None = Decimal(value)
    else:
        text = _value(value)
        if text is None:
            return None, None
        match = _ODOMETER.fullmatch(text.casefold())
        amount = _decimal(match["num"]) if match else None
        unit = _unit(match["unit"]) if match else None
    if amount is None or amount < 0:
        warn("odometer", "not a distance")
        return None, None
    return int(amount), unit


def _unit(value: str | None) -> str | None:
    cleaned = _value(value)
    if cleaned is None:
        return None
    unit = cleaned.casefold()
    return _ODOMETER_UNITS.get(unit, unit)

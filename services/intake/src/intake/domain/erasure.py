"""Who an erasure request names: the person's contacts as intake stores them, and the patterns
that find them in payloads kept as received (typed any way: "(519) 555-0142", "519.555.0142")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from shared.contracts import contact_hash

# Between two digits of a typed phone number: spaces, dots, dashes, slashes, brackets.
_SEP = r"[ ().\-/]{0,3}"


class AmbiguousPhone(ValueError):
    """A phone without a country code that reads as a valid number in several of the tenant's
    countries: erasing all of them could erase someone else."""


@dataclass(frozen=True)
class Person:
    """The contacts an erasure looks for; empty tuples when not given or unusable."""

    emails: tuple[str, ...]  # lower-cased: intake matches emails case-insensitively
    phones: tuple[str, ...]  # E.164
    typed: tuple[str, ...]  # the values as the admin typed them, lower-cased

    @property
    def empty(self) -> bool:
        return not self.emails and not self.phones

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(
            sorted(
                {contact_hash("email", e) for e in self.emails}
                | {contact_hash("phone", p) for p in self.phones}
            )
        )

    def phone_patterns(self) -> tuple[str, ...]:
        """PostgreSQL regular expressions finding each phone in text, however it was typed:
        the national digits with separators, maybe after the country code or a trunk 0, and
        never inside a longer run of digits."""
        patterns = []
        for e164 in self.phones:
            number = phonenumbers.parse(e164)
            national = str(number.national_number)
            core = _SEP.join(national)
            country = _SEP.join(str(number.country_code))
            patterns.append(rf"(?<![0-9])(?:(?:\+|00)?{country}{_SEP})?(?:0{_SEP})?{core}(?![0-9])")
        return tuple(patterns)


def person(email: str | None, phone: str | None, regions: Iterable[str]) -> Person:
    """The request's contacts. A phone without a country code is read for each of the tenant's
    dealership countries (as each dealership's leads were read); AmbiguousPhone if that gives
    several numbers."""
    emails: set[str] = set()
    typed: set[str] = set()  # only values that read as a contact: "555" would match too much
    if email and email.strip():
        try:
            normalised = validate_email(email.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            pass
        else:
            emails.add(normalised.lower())
            typed.add(email.strip().lower())
    phones: set[str] = set()
    if phone and phone.strip():
        for region in sorted(set(regions)) or ["ZZ"]:
            try:
                number = phonenumbers.parse(phone.strip(), region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                phones.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        if len(phones) > 1:
            raise AmbiguousPhone(
                f"the phone reads as {', '.join(sorted(phones))} in the dealer group's "
                "countries: give it with its country code"
            )
        if phones:
            typed.add(phone.strip().lower())
    return Person(tuple(sorted(emails)), tuple(sorted(phones)), tuple(sorted(typed)))


def mask_lines(data: bytes, needles: Iterable[str], patterns: Iterable[str]) -> tuple[bytes, int]:
    """A CSV file with every line naming the person blanked to `x`s, delimiters, quotes and
    line ends kept (the file keeps its size and shape); and the number of lines blanked."""
    lowered = [n.encode() for n in needles if n]
    compiled = [re.compile(p.encode()) for p in patterns]
    out: list[bytes] = []
    masked = 0
    for line in data.splitlines(keepends=True):
        low = line.lower()
        if any(n in low for n in lowered) or any(c.search(line) for c in compiled):
            out.append(_KEEP.sub(b"x", line))
            masked += 1
        else:
            out.append(line)
    return b"".join(out), masked


_KEEP = re.compile(rb'[^,;\t"\r\n]')

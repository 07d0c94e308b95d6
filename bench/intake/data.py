"""Generated leads: distinct people with valid Canadian phones, JSON bodies, CSV with duplicates."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import phonenumbers

AREA_CODES = (
    519, 416, 604, 514, 613, 905, 647, 403, 780, 204, 306, 902, 506, 709, 250,
    778, 438, 450, 418, 819, 226, 289, 343, 365, 437, 548, 587, 705, 807, 431,
)  # fmt: skip
# Exchanges (NXX) after the fictional 555-01XX block: never N11, never 555.
_EXCHANGES = tuple(x for x in range(200, 1000) if x % 100 != 11 and x != 555)
_FICTIONAL = 100  # 555-0100 .. 555-0199 first, per area code
FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Charlotte", "William", "Amelia", "Benjamin", "Ava",
    "Lucas", "Sophia", "Jack", "Mia", "Leo", "Chloe", "Ethan", "Zoe", "Thomas", "Maya", "Owen",
)  # fmt: skip
LAST_NAMES = (
    "Tremblay", "Smith", "Roy", "Gagnon", "Brown", "Lee", "Wilson", "Martin", "MacDonald",
    "Taylor", "Campbell", "Anderson", "Leblanc", "Nguyen", "Singh", "Patel", "Wong", "Kelly",
)  # fmt: skip
VEHICLES = (
    ("Toyota", ("Corolla", "RAV4", "Camry", "Tacoma")),
    ("Honda", ("Civic", "CR-V", "Accord")),
    ("Ford", ("F-150", "Escape", "Bronco")),
    ("Hyundai", ("Elantra", "Tucson", "Kona")),
    ("Chevrolet", ("Silverado", "Equinox")),
    ("Mazda", ("CX-5", "Mazda3")),
    ("RAM", ("1500", "2500")),
)
DOMAINS = ("example.com", "example.org", "mail.example.net", "example.ca")
CSV_COLUMNS = ("first_name", "last_name", "email", "phone", "make", "model", "year")
CSV_MAPPING = {
    "columns": {
        "first_name": "first_name",
        "last_name": "last_name",
        "email": "email",
        "phone": "phone",
        "vehicle.make": "make",
        "vehicle.model": "model",
        "vehicle.year": "year",
    }
}


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str  # E.164


@cache
def _valid_prefix(area: int, exchange: int) -> bool:
    """phonenumbers' CA rules depend on area code and exchange only: check once per prefix."""
    return bool(phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}{exchange}0150")))


def phone_number(index: int) -> str | None:
    """The index-th number: unique per index; None if phonenumbers says it is not valid."""
    area = AREA_CODES[index % len(AREA_CODES)]
    k = index // len(AREA_CODES)
    if k < _FICTIONAL:
        exchange, line = 555, 100 + k
    else:
        k -= _FICTIONAL
        exchange, line = _EXCHANGES[k % len(_EXCHANGES)], k // len(_EXCHANGES)
    if line > 9999 or not _valid_prefix(area, exchange):
        return None
    return f"+1{area}{exchange}{line:04d}"


def is_valid(e164: str) -> bool:
    return bool(phonenumbers.is_valid_number(phonenumbers.parse(e164)))


def people(run: str, start: int) -> Iterator[Person]:
    """Distinct people from index `start`: ranges that do not overlap never share contacts."""
    index = start
    while True:
        phone = phone_number(index)
        if phone is not None:
            first = FIRST_NAMES[index % len(FIRST_NAMES)]
            last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
            domain = DOMAINS[index % len(DOMAINS)]
            email = f"{first}.{last}.{run}{index}@{domain}".lower()
            yield Person(first, last, email, phone)
        index += 1


def written(phone: str, style: int) -> str:
    """A number as sources write it: (416) 555-0123, 416-555-0123, +1 416 555 0123, 4165550123."""
    area, exchange, line = phone[2:5], phone[5:8], phone[8:]
    forms = (
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"+1 {area} {exchange} {line}",
        f"{area}{exchange}{line}",
    )
    return forms[style % len(forms)]


def _vehicle(rng: random.Random) -> tuple[str, str, int]:
    make, models = rng.choice(VEHICLES)
    return make, rng.choice(models), rng.randint(2015, 2025)


def json_lead(person: Person, rng: random.Random) -> dict[str, Any]:
    make, model, year = _vehicle(rng)
    return {
        "first_name": person.first_name,
        "last_name": person.last_name.upper() if rng.random() < 0.2 else person.last_name,
        "email": person.email,
        "phone": written(person.phone, rng.randrange(4)),
        "vehicle": {
            "year": str(year),
            "make": make,
            "model": model,
            "condition": rng.choice(("New", "Used", "CPO")),
            "price": f"${rng.randint(15, 80)},{rng.randint(0, 999):03d}",
        },
        "comments": "Is it still available? I would like to book a test drive.",
        "campaign": "bench",
        "consent": {"email": True, "sms": rng.random() < 0.5},
    }


def raw_message(index: int, size: int = 1024) -> bytes:
    """A lead-like JSON body of about `size` bytes for the raw broker ceiling."""
    body = {
        "event_type": "raw",
        "lead_id": f"raw-{index}",
        "tenant_id": "bench",
        "payload": {"person": {"first_name": "Olivia", "email": f"o{index}@example.com"}},
        "pad": "",
    }
    pad = size - len(json.dumps(body))
    body["pad"] = "x" * max(pad, 0)
    return json.dumps(body).encode()


@dataclass(frozen=True)
class CsvFile:
    chunks: list[bytes]
    rows: int
    duplicates: int

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks)


def _duplicate_row(person: Person, rng: random.Random) -> tuple[str, str]:
    """The same person again: same email (case changed), same phone (written differently),
    or both."""
    kind = rng.randrange(3)
    email = person.email.capitalize() if kind != 2 else ""
    phone = written(person.phone, rng.randrange(4)) if kind != 1 else ""
    return email, phone


def csv_file(
    run: str, rows: int, start: int, *, duplicate_ratio: float = 0.3, seed: int = 7
) -> CsvFile:
    """`rows` CSV rows (plus a header), `duplicate_ratio` of them an earlier row's person, cut
    in ~64 KiB chunks (generated up front so the upload measures the server, not this)."""
    rng = random.Random(seed)
    fresh = people(run, start)
    seen: list[Person] = []
    chunks: list[bytes] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    duplicates = 0
    for _ in range(rows):
        make, model, year = _vehicle(rng)
        if seen and rng.random() < duplicate_ratio:
            person = rng.choice(seen)
            email, phone = _duplicate_row(person, rng)
            duplicates += 1
        else:
            person = next(fresh)
            seen.append(person)
            email, phone = person.email, written(person.phone, rng.randrange(4))
        writer.writerow((person.first_name, person.last_name, email, phone, make, model, year))
        if buffer.tell() >= 1 << 16:
            chunks.append(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    chunks.append(buffer.getvalue().encode())
    return CsvFile(chunks, rows, duplicates)

"""How a person is recognised across leads without keeping their email or phone in clear:
keys are SHA-256 of the normalised value (email lower-cased, phone in E.164 as given)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def email_key(email: str | None) -> str | None:
    value = (email or "").strip().lower()
    return _key("email", value) if value else None


def phone_key(phone: str | None) -> str | None:
    value = (phone or "").strip()
    return _key("phone", value) if value else None


def keys_of(person: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    person = person or {}
    return email_key(person.get("email")), phone_key(person.get("phone"))

"""Who is the same person, and which locks serialise the decision. Pure Python.

Two leads are the same person within a tenant when their normalised email or phone match. Under
concurrency the decision is made while holding a PostgreSQL advisory lock per person key (and
per idempotency key), so two replicas receiving the same person at once decide one after the
other: exactly one lead, the second a merge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from uuid import UUID

from intake.domain.model import Contact


def lock_key(*parts: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def person_lock_keys(tenant_id: str, contact: Contact) -> list[int]:
    keys = []
    if contact.email:
        keys.append(lock_key("email", tenant_id, contact.email.lower()))
    if contact.phone:
        keys.append(lock_key("phone", tenant_id, contact.phone))
    return keys


def idempotency_lock_key(source_id: UUID, key: str) -> int:
    return lock_key("idem", str(source_id), key)


def email_key(email: str | None) -> str | None:
    # Local parts are case-sensitive by the RFC but never in practice; match case-insensitively.
    return email.lower() if email else None


def matched_on(contact: Contact, email: str | None, phone: str | None) -> list[str]:
    out = []
    if contact.email and email_key(contact.email) == email_key(email):
        out.append("email")
    if contact.phone and contact.phone == phone:
        out.append("phone")
    return out


def sorted_unique(keys: Iterable[int]) -> list[int]:
    """Locks are always taken in one order, so two batches never deadlock."""
    return sorted(set(keys))

"""Every moment the domain keeps is aware and in UTC, so comparisons never mix zones."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime, field: str) -> datetime:
    """`value` in UTC; a naive datetime is a programming error (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: needs an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)

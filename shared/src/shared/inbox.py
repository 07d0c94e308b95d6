"""Inbox: makes a consumer idempotent by event id.

Claim the event inside the handler's transaction, before any change: if the claim fails the
event was already handled (a redelivery or a duplicate), and the handler does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.observability import skipped_duplicates

_CLAIM = text(
    "INSERT INTO inbox_message (consumer, event_id) VALUES (:consumer, :event_id) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)


_CLAIM_MANY = text(
    "INSERT INTO inbox_message (consumer, event_id) "
    "SELECT :consumer, unnest(CAST(:event_ids AS uuid[])) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


async def claim(session: AsyncSession, consumer: str, event_id: UUID) -> bool:
    """True if this consumer sees `event_id` for the first time (in this transaction)."""
    result = await session.execute(_CLAIM, {"consumer": consumer, "event_id": event_id})
    fresh = result.scalar() is not None
    if not fresh:
        skipped_duplicates(1)  # counted as duplicate_skipped by the consumer
    return fresh


async def claim_many(session: AsyncSession, consumer: str, event_ids: Iterable[UUID]) -> set[UUID]:
    """The ids of `event_ids` this consumer sees for the first time, claimed in one statement
    (an id given twice is claimed once)."""
    given = list(event_ids)
    ids = sorted(set(given))  # sorted: two replicas' batches take the keys in one order
    if not ids:
        return set()
    result = await session.execute(_CLAIM_MANY, {"consumer": consumer, "event_ids": ids})
    fresh = set(result.scalars())
    skipped_duplicates(len(given) - len(fresh))  # an id given twice: one is a duplicate
    return fresh

"""Erasure in the outbox: a service's own events about erased leads lose the person's data.

Every service scrubs its domain rows on `person.erased`; the events it already wrote about those
leads sit in its `outbox_message` table too (published ones until the relay's purge, pending
ones until the broker confirms). `scrub_outbox` deletes the published ones (the broker has them,
nobody reads them here again) and rewrites the pending ones without the personal fields, so
they still go out, in order, and still parse.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Payload fields that hold free text or who the person is. `person` becomes an empty object
# (every field of PersonV1 is optional), free text null, the rest empty.
_EMPTY: dict[str, Any] = {
    "person": {},
    "comments": None,
    "note": None,
    "extensions": {},
    "trade_ins": [],
}
# Inside a vehicle or an enquiry: free text and the VIN (it names the person's own car).
_NESTED = ("comments", "note", "vin")

# The envelope's lead id and tenant are top-level JSON fields of the body (our own UTF-8 JSON).
_OF_LEADS = text(
    "SELECT id, published_at IS NOT NULL AS published, body FROM outbox_message "
    "WHERE headers->>'tenant_id' = :tenant_id "
    "AND convert_from(body, 'UTF8')::jsonb->>'lead_id' = ANY(CAST(:lead_ids AS text[])) "
    "ORDER BY id FOR UPDATE"
)
_DELETE = text("DELETE FROM outbox_message WHERE id = ANY(:ids)")
_REWRITE = text("UPDATE outbox_message SET body = :body WHERE id = :id")


def scrub_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without the person's data (fields it does not have stay absent)."""
    out = dict(payload)
    for key, empty in _EMPTY.items():
        if key in out and out[key] is not None:
            out[key] = empty
    vehicle = out.get("vehicle")
    if isinstance(vehicle, dict):
        out["vehicle"] = _scrub_nested(vehicle)
    for key in ("enquiries", "vehicles"):
        if isinstance(out.get(key), list):
            out[key] = [_scrub_nested(e) if isinstance(e, dict) else e for e in out[key]]
    return out


def _scrub_nested(value: dict[str, Any]) -> dict[str, Any]:
    out = {k: (None if k in _NESTED else v) for k, v in value.items()}
    vehicle = out.get("vehicle")
    if isinstance(vehicle, dict):
        out["vehicle"] = _scrub_nested(vehicle)
    return out


async def scrub_outbox(session: AsyncSession, tenant_id: str, lead_ids: Collection[UUID]) -> int:
    """Scrub the tenant's outbox rows about these leads; the number of rows touched."""
    if not lead_ids:
        return 0
    rows = (
        await session.execute(
            _OF_LEADS, {"tenant_id": tenant_id, "lead_ids": [str(i) for i in lead_ids]}
        )
    ).all()
    published = [r.id for r in rows if r.published]
    if published:
        await session.execute(_DELETE, {"ids": published})
    for r in rows:
        if r.published:
            continue
        envelope = json.loads(bytes(r.body))
        envelope["payload"] = scrub_payload(envelope.get("payload") or {})
        await session.execute(_REWRITE, {"id": r.id, "body": json.dumps(envelope).encode()})
    return len(rows)

"""What an erasure removes from a stored event: everything that identifies or describes the
person, leaving what the counts need (times, sources, codes, ids, amounts).

The scrubbed envelope still parses with the contracts (every removed field is optional), so a
rebuild from the scrubbed log gives the same figures.
"""

from __future__ import annotations

from typing import Any

# Replaced wherever they appear in a payload (people, free text, the source's own data).
_BLANKED: dict[str, Any] = {
    "person": {},
    "comments": None,
    "note": None,
    "details": None,
    "vin": None,
    "extensions": {},
    "source_lead_id": None,
    "other_phones": [],
    "trade_ins": [],
    # call.received: who called, what they said, where the recording is.
    "caller_phone": None,
    "caller_id": None,
    "recording_url": None,
    "summary": None,
}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (_BLANKED[k] if k in _BLANKED else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def scrub_envelope(body: dict[str, Any]) -> dict[str, Any]:
    """The envelope with its payload's personal data blanked (the envelope itself has none)."""
    out = dict(body)
    if isinstance(out.get("payload"), dict):
        out["payload"] = _scrub(out["payload"])
    return out

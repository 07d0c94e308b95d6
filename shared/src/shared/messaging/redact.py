"""Secrets never ride along into a dead-letter queue.

A `.dlq` is read by operators and tools (`scripts/replay_dlq.py --dry-run` prints messages) and
keeps messages for days: an API key or a bearer token in a dead letter's headers would be a
secret in clear text. `redact_headers` removes them and leaves a hint that cannot be used to
authenticate: the header's name and, for a Forecourt API key, its public prefix (which names
the source), never the secret part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared.auth.api_keys import key_prefix

# Headers that carry credentials by their very name.
SECRET_HEADERS = frozenset(
    {"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"}
)
# And any header whose name says it holds one.
_SECRET_NAME = re.compile(r"secret|token|password|passwd|api[-_]?key|credential", re.IGNORECASE)
REDACTED_HEADER = "x-forecourt-redacted"


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    lowered = name.lower()
    if lowered.startswith("x-forecourt-"):
        return False  # ours: reasons and hints, never secrets
    return (
        lowered in SECRET_HEADERS
        or lowered in {e.lower() for e in extra}
        or bool(_SECRET_NAME.search(lowered))
    )


def _hint(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if not isinstance(value, str):
        return "…"
    if (prefix := key_prefix(value)) is not None:
        return f"fck_{prefix}_…"  # the prefix finds the source; the secret part stays out
    scheme, _, credentials = value.partition(" ")
    if credentials and scheme.isalpha() and len(scheme) <= 20:
        return f"{scheme} …"  # "Bearer …"
    return "…"


def redact_headers(headers: Mapping[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """`headers` without secret ones; `x-forecourt-redacted` lists what was removed, with a hint
    (e.g. `x-api-key=fck_0a1b2c3d4e5f_…`)."""
    extra = tuple(extra)
    kept: dict[str, Any] = {}
    removed: list[str] = []
    for name, value in headers.items():
        if is_secret_header(name, extra):
            removed.append(f"{name}={_hint(value)}")
        else:
            kept[name] = value
    if removed:
        kept[REDACTED_HEADER] = "; ".join(removed)
    return kept

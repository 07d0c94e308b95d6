"""Control characters out of untrusted text, before anything else (PostgreSQL included) sees it.

PostgreSQL refuses NUL in `text` and `\\u0000` in `jsonb` with an error that is not a validation
error, and the other C0/C1 controls are never part of a name, an address or a comment. Pure.
"""

from __future__ import annotations

from typing import Any

# C0 controls, DEL and C1 controls (Unicode category Cc).
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_BREAKS = (0x09, 0x0A, 0x0D)  # tab, line feed, carriage return
# One-line values: a tab or line break becomes a space (the normaliser collapses spaces), every
# other control character goes.
_ONE_LINE = {c: (" " if c in _BREAKS else None) for c in _CONTROLS}
# Free text (comments): tabs and line breaks are kept.
_MULTI_LINE = {c: None for c in _CONTROLS if c not in _BREAKS}


def has_controls(value: str) -> bool:
    """Whether `value` holds a control character (tab and line breaks included)."""
    return not value.isprintable() and value.translate(_ONE_LINE) != value


def refuse_controls(value: str) -> str:
    """For names an admin or a mapping gives: refused (422), not silently changed."""
    if has_controls(value):
        raise ValueError("contains control characters")
    return value


def one_line(value: str) -> str:
    # isprintable() is True for nearly every real value: then there is nothing to do.
    return value if value.isprintable() else value.translate(_ONE_LINE)


def multi_line(value: str) -> str:
    return value if value.isprintable() else value.translate(_MULTI_LINE)


def deep(value: Any) -> Any:
    """Every string of a JSON-like value cleaned: keys with `one_line`, values with
    `multi_line` (values kept as sent may be free text, e.g. a navigation history)."""
    if isinstance(value, str):
        return multi_line(value)
    if isinstance(value, dict):
        return {one_line(str(k)): deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep(v) for v in value]
    return value

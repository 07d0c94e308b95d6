"""Dates as sources write them: ISO 8601 and the near misses found in the wild.

One reader for every way in (ADF's `<requestdate>`, JSON's `requested_at`), so `-08` is an
offset of eight hours wherever it comes from, not a reason to refuse or drop the date.
"""

from __future__ import annotations

import re
from datetime import datetime

MAX_LENGTH = 64  # longer is not a date; never hand it to a regex

# Date with one- or two-digit parts, optional time, fraction and zone (`Z`, `-05`, `-0500`).
_DATE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{1,2}):(?P<minute>\d{1,2})(?::(?P<second>\d{1,2}))?(?P<fraction>\.\d+)?)?"
    r"\s*(?P<zone>Z|(?P<sign>[+-])(?P<zone_hour>\d{1,2})(?::?(?P<zone_minute>\d{2}))?)?",
    re.IGNORECASE,
)


def read_datetime(text: str) -> datetime | None:
    """The moment written; aware only when the text has a zone. None if unreadable.

    Handles `2025-09-22T18:07`, `.000-08:00`, `2020-04-28T5:30:20`, `-05`, `-0500`, `Z`.
    """
    text = text.strip()
    if not text or len(text) > MAX_LENGTH:
        return None
    match = _DATE.fullmatch(text)
    candidate = _canonical_iso(match) if match else text
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


def _canonical_iso(match: re.Match[str]) -> str:
    # Zero-pad the parts fromisoformat insists on; it handles the fraction itself.
    p = match.groupdict()
    iso = (
        f"{p['year']}-{p['month']:0>2}-{p['day']:0>2}"
        f"T{p['hour'] or '0':0>2}:{p['minute'] or '0':0>2}:{p['second'] or '0':0>2}"
        f"{p['fraction'] or ''}"
    )
    if p["zone"] and p["zone"].upper() == "Z":
        return iso + "+00:00"
    if p["zone"]:
        return iso + f"{p['sign']}{p['zone_hour']:0>2}:{p['zone_minute'] or '00'}"
    return iso

"""A phone call a provider tells the dealership about (CarGurus' "Phone Lead from CarGurus"
e-mail): not a lead (nobody asked for anything in writing), but a call someone should see.

`CallNotice` is what the notification says, as written; `normalise_call` turns it into what
`call.received` carries: the caller's number in E.164 (read for the dealership's country), the
time of the call, capped one-line text. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from intake.domain import clean
from intake.domain.normalise import phone_e164

TEXT: Final = 500  # characters of each text the event carries (its contract's cap)
# What a provider writes as the caller id when it has no number.
_NO_CALLER: Final = frozenset({"", "none", "null", "unknown", "n/a", "-"})


@dataclass(frozen=True)
class CallNotice:
    """A call notification, values as written."""

    summary: str  # the notification's text
    caller: str | None = None  # the caller id: a number, a name, "None"
    duration_seconds: int | None = None
    called_at: datetime | None = None  # when the text says the call was made
    sent_at: datetime | None = None  # the message's Date: sent as the call ended
    recording_url: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Call:
    summary: str
    called_at: datetime
    caller_phone: str | None = None
    caller_id: str | None = None  # as written, when it is not a usable number
    duration_seconds: int | None = None
    recording_url: str | None = None
    provider: str | None = None


def _line(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(clean.one_line(value).split())[:TEXT]
    return text or None


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.utcoffset() is None:  # a time without zone: a guess, not kept
        return None
    return value.astimezone(UTC)


def normalise_call(notice: CallNotice, *, country: str, received_at: datetime) -> Call:
    """`country`: the dealership's ISO 3166 alpha-2 region (national numbers are read for it)."""
    caller = _line(notice.caller)
    phone = phone_e164(caller, country) if caller else None
    if caller is not None and caller.lower() in _NO_CALLER:
        caller = None
    url = _line(notice.recording_url)
    if url is not None and not url.lower().startswith(("https://", "http://")):
        url = None
    duration = notice.duration_seconds
    return Call(
        summary=_line(notice.summary) or "",
        called_at=_utc(notice.called_at) or _utc(notice.sent_at) or received_at.astimezone(UTC),
        caller_phone=phone,
        caller_id=None if phone else caller,
        duration_seconds=duration if duration is not None and duration >= 0 else None,
        recording_url=url,
        provider=_line(notice.provider),
    )

"""Phone-call notifications read as a call (`call.received`), never as a lead."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from intake.adapters.email_layouts import parse_email
from intake.domain.call import CallNotice, normalise_call

RECEIVED = datetime(2026, 12, 1, 19, 10, tzinfo=UTC)


def mail(body: str, *, date: str | None = "Tue, 01 Dec 2026 14:05:00 -0500") -> bytes:
    msg = EmailMessage()
    msg["From"] = "dealer-leads@messages.cargurus.com"
    msg["Subject"] = "Phone Lead"
    if date:
        msg["Date"] = date
    msg.set_content(body)
    return msg.as_bytes()


def read(body: str, **kw: str | None) -> CallNotice:
    parsed = parse_email(mail(body, **kw), max_adf_bytes=100_000, max_adf_prospects=10)
    assert parsed.kind == "call" and parsed.submissions == []
    assert parsed.call is not None
    return parsed.call


def test_cargurus_cdata_notification() -> None:
    body = "<![CDATA[Phone Lead from CarGurus. Caller Id: None, Duration: 1 minutes, 18 seconds]]>"
    call = normalise_call(read(body), country="CA", received_at=RECEIVED)
    assert call.caller_phone is None and call.caller_id is None
    assert call.duration_seconds == 78
    assert call.called_at == datetime(2026, 12, 1, 19, 5, tzinfo=UTC)  # the Date header
    assert call.provider == "CarGurus"
    assert call.summary.startswith("Phone Lead from CarGurus. Caller Id: None")


@pytest.mark.parametrize(
    ("said", "seconds"),
    [
        ("1 minutes, 18 seconds", 78),
        ("2 min 5 sec", 125),
        ("02:05", 125),
        ("1:02:03", 3723),
        ("45 seconds", 45),
        ("unknown", None),
    ],
)
def test_durations(said: str, seconds: int | None) -> None:
    notice = read(f"Phone Lead from CarGurus\nCaller Id: None\nDuration: {said}\n")
    assert notice.duration_seconds == seconds


def test_caller_number_time_and_recording() -> None:
    notice = read(
        "Phone Lead from CarGurus\nCaller Id: (519) 555-0158\n"
        "Call Time: 2026-12-01T13:59:00-05:00\nRecording: https://calls.example.com/r/1\n"
    )
    call = normalise_call(notice, country="CA", received_at=RECEIVED)
    assert call.caller_phone == "+15195550158"
    assert call.called_at == datetime(2026, 12, 1, 18, 59, tzinfo=UTC)
    assert call.recording_url == "https://calls.example.com/r/1"


def test_a_caller_id_that_is_no_number_is_kept_as_written() -> None:
    call = normalise_call(
        read("Phone Lead from CarGurus. Caller Id: WIRELESS CALLER, Duration: 0:30", date=None),
        country="CA",
        received_at=RECEIVED,
    )
    assert call.caller_phone is None and call.caller_id == "WIRELESS CALLER"
    assert call.called_at == RECEIVED  # no time stated, no Date header


def test_text_is_one_line_capped_and_links_are_web_links() -> None:
    notice = CallNotice(
        summary="Phone Lead\x00 " + "x" * 900,
        caller="\x07555",
        recording_url="javascript:alert(1)",
        called_at=datetime(2026, 12, 1, 13, 59),  # no zone: not trusted
    )
    call = normalise_call(notice, country="CA", received_at=RECEIVED)
    assert len(call.summary) == 500 and "\x00" not in call.summary
    assert call.caller_id == "555"
    assert call.recording_url is None
    assert call.called_at == RECEIVED

"""Reading MIME with compat32 (fast) shows the headers as the default policy decodes them."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from intake.adapters.email_message import read_message
from intake.entrypoints.smtp import message_id

HEADERS = [
    b"From: =?utf-8?q?Zo=C3=AB_Fakey?= <Leads@Dealer.example>",
    'From: "Zoë Fakey" <Leads@Dealer.example>'.encode(),  # SMTPUTF8: raw UTF-8
    b"Subject: =?utf-8?q?Nouveau_prospect_=C3=A9?= =?utf-8?q?_suite?=",
    b"Subject: =?iso-8859-1?q?Re=E7u?= from the\r\n  website form",
    "Subject: Nouveau prospect — é".encode(),
    b"Subject: plain ascii,\r\n\tfolded",
]


@pytest.mark.parametrize("header", HEADERS, ids=lambda h: h.decode(errors="replace")[:40])
def test_headers_read_as_the_default_policy_reads_them(header: bytes) -> None:
    raw = header + b"\r\nMessage-ID: <a@b.example>\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
    msg = read_message(raw)
    expected = BytesParser(policy=policy.default).parsebytes(raw)
    if header.startswith(b"From"):
        assert msg.sender == "leads@dealer.example"
    else:
        assert msg.subject == " ".join(str(expected["Subject"]).split())
    assert msg.text.strip() == "Hello"
    assert message_id(raw) == "<a@b.example>"


def test_folded_message_id_is_one_line() -> None:
    assert message_id(b"Message-ID:\r\n <x@y.example>\r\n\r\nbody") == "<x@y.example>"
    assert message_id(b"Subject: none\r\n\r\nbody") is None

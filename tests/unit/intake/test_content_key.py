"""A message without Message-ID is known again by what it says (`content_key`), not its bytes."""

from __future__ import annotations

from email.message import EmailMessage

from intake.adapters.email_message import CONTENT_KEY_PREFIX, content_key

BODY = "Name: Ann Roe\nEmail: ann.roe@example.com\nPhone: 519-555-0177\nCommentaire: déjà vu\n"


def mail(
    *,
    body: str = BODY,
    cte: str | None = None,
    date: str = "Tue, 01 Dec 2026 14:05:00 -0500",
    sender: str = "Leads <Leads@Marketplace.example>",
    subject: str = "New lead",
    attachment: bytes | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["Subject"] = subject
    msg["Date"] = date
    msg.set_content(body, **({"cte": cte} if cte else {}))
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="xml", filename="a.xml")
    return msg.as_bytes()


def test_the_same_message_resent_has_the_same_key() -> None:
    key = content_key(mail())
    assert key.startswith(CONTENT_KEY_PREFIX)
    assert content_key(mail()) == key
    # Another relay: trace headers added, the part encoded anew, the same instant elsewhere.
    relayed = b"Received: from mx2.example by leads.example; Tue, 1 Dec 2026\r\n" + mail(
        cte="quoted-printable", date="Tue, 01 Dec 2026 19:05:00 +0000"
    ).replace(b"\n", b"\r\n")
    assert content_key(relayed) == key
    assert content_key(mail(cte="base64", sender="leads@marketplace.example")) == key


def test_new_mime_boundaries_do_not_make_another_message() -> None:
    first, again = mail(attachment=b"<adf/>"), mail(attachment=b"<adf/>")
    assert first != again  # the email package picks a random boundary each time
    assert content_key(first) == content_key(again)


def test_another_message_has_another_key() -> None:
    key = content_key(mail())
    assert content_key(mail(body=BODY.replace("Ann", "Bo"))) != key
    assert content_key(mail(date="Tue, 01 Dec 2026 14:06:00 -0500")) != key
    assert content_key(mail(subject="Another lead")) != key
    assert content_key(mail(sender="other@marketplace.example")) != key
    assert content_key(mail(attachment=b"<adf/>")) != key

"""Intake by e-mail: real SMTP (smtplib) to the running listener, leads checked in the database
and events on RabbitMQ. Each e-mail or HTML fixture gives the lead a person reading it sees."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from intake.entrypoints.smtp import Listener, smtp_listener
from shared.db import asyncpg_dsn
from shared.messaging.topology import Topology
from tests.integration.intake.conftest import Intake, intake_settings
from tests.paths import ADF_DIR, OTHER_DIR, fixture_files, needs_fixtures

pytestmark = pytest.mark.integration

DOMAIN = "leads.test.example"

SENDERS = {
    "autotrader": "1-Source@dealerleads.trader.ca",
    "cargurus": "dealer-leads@messages.cargurus.com",
    "website": "noreply@loolooauto.ca",
}

# file -> (first, last, email, phone), (year, make, model, vin, stock), provider; or "call".
EXPECTED: dict[str, Any] = {
    "autotrader_ca_carfax_request_email_03.txt": (
        (None, None, "sdoe11@example.com", "+16475550160"),
        (2017, "Mercedes-Benz", "C-Class", "55SWF6EB0HU180615", "D9770"),
        "AutoTrader.ca",
    ),
    "autotrader_ca_email_plaintext_inline_02.txt": (
        ("Tester", None, "tester.sample@example.com", None),  # 647-123-...: no such exchange,
        (2021, "Tesla", "Model 3", None, "D9779"),
        "AutoTrader.ca",
    ),
    "autotrader_ca_email_plaintext_structured_01.txt": (
        ("Joe", None, "jdoe1911@example.com", "+16835550131"),
        (2018, "Ram", "2500", "3C6JB5CT5JG295901", "D9524"),
        "AutoTrader.ca",
    ),
    "cargurus_email_plaintext_01.txt": (
        ("John", "Doe", "jdoe@example.com", "+15195550158"),
        (2022, "Tesla", "Model 3", "5YJ3E1EB6NF126791", "D9783"),
        "CarGurus",
    ),
    "cargurus_email_plaintext_placeholder_name_no_email_02.txt": (
        (None, None, None, "+19025550105"),
        (2018, "Tesla", "Model 3", None, "D9756"),
        "CarGurus",
    ),
    "cargurus_phone_lead_notification_cdata_01.txt": "call",
    "website_form_lead_html_fullname_01.html": (
        ("Pablo Prueba", "Lopez", "pablo_pl@example.com", "+16475550181"),
        (2021, "Tesla", "Model 3 Standard Range Plus", None, "D9779"),
        "Website",
    ),
    "website_form_lead_html_splitname_02.html": (
        ("Lesley", "Sample", "lesleysample@example.com", "+15195550168"),
        None,
        "Website",
    ),
}


@dataclass
class Mail:
    intake: Intake
    listener: Listener
    database_url: str

    def address(self, source: dict[str, Any]) -> str:
        return f"{source['id']}@{DOMAIN}"

    def _send(self, msg: EmailMessage | bytes, to: str, sender: str) -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", self.listener.port, timeout=30) as smtp:
            if isinstance(msg, bytes):
                return smtp.sendmail(sender, [to], msg)
            return smtp.send_message(msg, from_addr=sender, to_addrs=[to])

    async def send(
        self, msg: EmailMessage | bytes, to: str, sender: str = "x@example.com"
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self._send, msg, to, sender)

    async def query(self, sql: str, *args: Any) -> list[Any]:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


@pytest.fixture
async def mail(
    intake: Intake, database_url: str, common_settings: Any, topology: Topology
) -> AsyncIterator[Mail]:
    await intake.no_test_rules("acme")
    settings = intake_settings(
        database_url,
        common_settings,
        smtp_port=0,
        smtp_domain=DOMAIN,
        smtp_max_bytes=200_000,
    )
    async with smtp_listener(settings, topology=topology) as listener:
        yield Mail(intake, listener, database_url)


def message(body: str, *, sender: str, subtype: str = "plain", msg_id: str | None = None) -> Any:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "leads@dealer.example"
    msg["Subject"] = "New lead"
    msg["Message-ID"] = msg_id or f"<{uuid.uuid4().hex}@mail.example>"
    msg.set_content(body, subtype=subtype)
    return msg


def wire(body: bytes) -> bytes:
    """As sent: SMTP carries CRLF line ends, stored as they came."""
    return bytes(body).replace(b"\r\n", b"\n")


def sender_of(name: str) -> str:
    return next(v for k, v in SENDERS.items() if name.startswith(k))


@needs_fixtures
def test_every_mail_fixture_has_an_expectation() -> None:
    names = [p.name for p in OTHER_DIR.glob("*") if p.suffix in (".txt", ".html")]
    assert sorted(names) == sorted(EXPECTED)


@pytest.mark.parametrize("path", fixture_files(OTHER_DIR, "*.*[lt]"), ids=lambda p: p and p.name)
async def test_fixture_by_smtp(mail: Mail, path: Path) -> None:
    if path.suffix not in (".txt", ".html"):
        pytest.skip("not an e-mail")
    source = await mail.intake.source("acme")
    subtype = "html" if path.suffix == ".html" else "plain"
    text = await asyncio.to_thread(path.read_text)
    msg = message(text, sender=sender_of(path.name), subtype=subtype)
    assert await mail.send(msg, mail.address(source)) == {}
    [raw] = await mail.query(
        "SELECT id, status, format, body FROM raw_payload WHERE source_id = $1",
        uuid.UUID(source["id"]),
    )
    assert raw["format"] == "email" and wire(raw["body"]) == msg.as_bytes()
    expected = EXPECTED[path.name]
    if expected == "call":  # classified and kept, not a lead
        assert raw["status"] == "processed"
        assert await mail.query("SELECT 1 FROM submission") == []
        assert mail.intake.events.of("lead.ingested") == []
        return
    [event] = await mail.intake.events.wait_for("lead.ingested")
    payload = event["payload"]
    person = payload["person"]
    assert (person["first_name"], person["last_name"], person["email"], person["phone"]) == (
        expected[0]
    )
    vehicle = payload["vehicle"]
    if expected[1] is None:
        assert vehicle is None
    else:
        got = (vehicle["year"], vehicle["make"], vehicle["model"], vehicle["vin"], vehicle["stock"])
        assert got == expected[1]
    assert payload["provider"] == expected[2]
    [lead] = await mail.query(
        "SELECT provider FROM lead WHERE id = $1", uuid.UUID(event["lead_id"])
    )
    assert lead["provider"] == expected[2]


@needs_fixtures
async def test_adf_as_body_and_as_attachment(mail: Mail) -> None:
    source = await mail.intake.source("acme")
    doc = (ADF_DIR / "truecar_vehicle_id_decimal_price_01.xml").read_bytes()
    body = message(doc.decode(), sender="leads@truecar.example")  # eLead: the ADF is the body
    assert await mail.send(body, mail.address(source)) == {}
    attached = message("A lead is attached.", sender="leads@truecar.example")
    attached.add_attachment(doc, maintype="application", subtype="xml", filename="lead.xml")
    attached.add_attachment(b"%PDF-1.4 not read", maintype="application", subtype="pdf")
    [first] = await mail.intake.events.wait_for("lead.ingested")
    assert first["payload"]["person"]["email"] == "tyler.davis@example.com"
    assert first["payload"]["vehicle"]["model"] == "3 Series"
    assert await mail.send(attached, mail.address(source)) == {}  # another Message-ID
    [again] = await mail.intake.events.wait_for("lead.duplicate")  # the same person again
    assert again["lead_id"] == first["lead_id"]
    assert again["payload"]["vehicle"]["model"] == "3 Series"


async def test_unknown_recipient_is_refused_at_rcpt(mail: Mail) -> None:
    msg = message("Name: Ann\nEmail: ann@example.com", sender="x@example.com")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await mail.send(msg, f"{uuid.uuid4()}@{DOMAIN}")
    [(code, _)] = refused.value.recipients.values()
    assert code == 550
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await mail.send(msg, "someone@elsewhere.example")
    assert await mail.query("SELECT 1 FROM raw_payload") == []


async def test_oversize_message_is_refused_and_not_stored(mail: Mail) -> None:
    source = await mail.intake.source("acme")
    msg = message("Email: ann@example.com\n" + "x" * 300_000, sender="x@example.com")
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
        await mail.send(msg, mail.address(source))
    assert refused.value.smtp_code == 552
    assert await mail.query("SELECT 1 FROM raw_payload") == []


async def test_resent_message_id_is_one_lead(mail: Mail) -> None:
    source = await mail.intake.source("acme")
    msg = message(
        "Name: Ann Roe\nEmail: ann.roe@example.com\nPhone: 519-555-0177",
        sender="x@example.com",
        msg_id="<once@mail.example>",
    )
    for _ in range(3):
        assert await mail.send(msg, mail.address(source)) == {}
    await mail.intake.events.wait_for("lead.ingested")
    await mail.intake.events.settle()
    assert len(mail.intake.events.of("lead.ingested")) == 1
    assert mail.intake.events.of("lead.duplicate") == []
    assert len(await mail.query("SELECT 1 FROM raw_payload")) == 1
    assert len(await mail.query("SELECT 1 FROM submission")) == 1
    [lead] = await mail.query("SELECT first_name, last_name, email FROM lead")
    assert tuple(lead) == ("Ann", "Roe", "ann.roe@example.com")


async def test_unknown_layout_is_kept_rejected_and_shown_to_the_admin(mail: Mail) -> None:
    source = await mail.intake.source("acme")
    msg = message("Bonjour,\nUn client a appele au sujet du Rav4.\n\x00Merci", sender="x@y.example")
    assert await mail.send(msg, mail.address(source)) == {}
    [event] = await mail.intake.events.wait_for("lead.rejected")
    assert event["payload"]["reason_code"] == "invalid.personal_data"
    raw_id = event["payload"]["raw_payload_id"]
    staff = mail.intake.staff("acme")
    r = await mail.intake.client.get(f"/v1/admin/sources/{source['id']}/emails", headers=staff)
    assert r.status_code == 200, r.text
    [shown] = r.json()
    assert shown["raw_payload_id"] == raw_id
    assert shown["leads"][0]["outcome"] == "rejected"
    assert shown["leads"][0]["reason_code"] == "invalid.personal_data"
    r = await mail.intake.client.get(
        f"/v1/admin/sources/{source['id']}/emails/{raw_id}", headers=staff
    )
    assert r.status_code == 200 and wire(r.content) == msg.as_bytes()
    other = mail.intake.staff("globex")  # another tenant sees nothing of it
    r = await mail.intake.client.get(
        f"/v1/admin/sources/{source['id']}/emails/{raw_id}", headers=other
    )
    assert r.status_code == 404
    r = await mail.intake.client.get(f"/v1/admin/sources/{source['id']}/emails", headers=other)
    assert r.status_code == 404, r.text  # not an empty list: the source is not theirs


async def test_address_set_by_an_admin(mail: Mail) -> None:
    source = await mail.intake.source("acme")
    staff = mail.intake.staff("acme")
    url = f"/v1/admin/sources/{source['id']}/email"
    r = await mail.intake.client.put(url, json={"address": "Leads@Dealer.example"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["default"].startswith(f"{source['id']}@")
    other = await mail.intake.source("acme")
    r = await mail.intake.client.put(
        f"/v1/admin/sources/{other['id']}/email",
        json={"address": "leads@dealer.example"},
        headers=staff,
    )
    assert r.status_code == 409
    # Not an address: refused like every bad field, naming it (FastAPI's 422 list).
    r = await mail.intake.client.put(url, json={"address": "no-at-sign"}, headers=staff)
    assert r.status_code == 422, r.text
    [issue] = r.json()["detail"]
    assert issue["loc"][-1] == "address" and "@" in issue["msg"]
    msg = message("Name: Bo Poe\nPhone: 519-555-0166", sender="x@example.com")
    assert await mail.send(msg, "LEADS@dealer.example") == {}
    [event] = await mail.intake.events.wait_for("lead.ingested")
    assert event["payload"]["source"]["source_id"] == source["id"]

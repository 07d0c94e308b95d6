"""Intake by e-mail: real SMTP (smtplib) to the running listener, leads checked in the database
and events on RabbitMQ. Each e-mail or HTML fixture gives the lead a person reading it sees."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import smtplib
import ssl
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import trustme

from intake.config import IntakeSettings
from intake.entrypoints.smtp import Listener, TlsSettingsError, smtp_listener
from shared.db import asyncpg_dsn
from shared.messaging.topology import Topology
from shared.testing.ports import free_port
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
    # The client's context, trusting the test CA: given, every message is sent after STARTTLS.
    tls: ssl.SSLContext | None = None

    def address(self, source: dict[str, Any]) -> str:
        return f"{source['id']}@{DOMAIN}"

    def connect(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.listener.port, timeout=30)

    def _send(self, msg: EmailMessage | bytes, to: str, sender: str) -> dict[str, Any]:
        with self.connect() as smtp:
            if self.tls is not None:
                smtp.starttls(context=self.tls)
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


@contextlib.asynccontextmanager
async def listening(
    intake: Intake,
    database_url: str,
    common_settings: Any,
    topology: Topology,
    tls: ssl.SSLContext | None = None,
    **kw: Any,
) -> AsyncIterator[Mail]:
    await intake.no_test_rules("acme")
    settings = intake_settings(
        database_url,
        common_settings,
        smtp_port=0,
        smtp_domain=DOMAIN,
        smtp_max_bytes=200_000,
        **kw,
    )
    async with smtp_listener(settings, topology=topology) as listener:
        yield Mail(intake, listener, database_url, tls)


@pytest.fixture
async def mail(
    intake: Intake, database_url: str, common_settings: Any, topology: Topology
) -> AsyncIterator[Mail]:
    async with listening(intake, database_url, common_settings, topology) as mail:
        yield mail


@dataclass
class Certs:
    """A throwaway CA (trustme) and the listener's certificate and key as PEM files."""

    ca: trustme.CA
    cert: str
    key: str

    def client(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    ca = trustme.CA()
    # smtplib checks the certificate against the host it connected to: 127.0.0.1.
    server = ca.issue_cert("127.0.0.1", DOMAIN)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(key))
    return Certs(ca, str(cert), str(key))


def message(
    body: str,
    *,
    sender: str,
    subtype: str = "plain",
    msg_id: str | None = None,
    with_id: bool = True,
) -> Any:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "leads@dealer.example"
    msg["Subject"] = "New lead"
    msg["Date"] = "Tue, 01 Dec 2026 14:05:00 -0500"
    if with_id:
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
    if expected == "call":  # classified and kept, not a lead: a call.received
        [call] = await mail.intake.events.wait_for("call.received")
        assert (call["tenant_id"], call["dealership_id"]) == ("acme", source["dealership_id"])
        assert call["lead_id"] is None and call["correlation_id"] == msg["Message-ID"]
        payload = call["payload"]
        assert payload["raw_payload_id"] == str(raw["id"])
        assert payload["source"]["source_id"] == source["id"]
        assert payload["provider"] == "CarGurus"
        assert payload["caller_phone"] is None  # "Caller Id: None"
        assert payload["caller_id"] is None
        assert payload["duration_seconds"] == 78  # "1 minutes, 18 seconds"
        assert payload["recording_url"] is None
        sent = parsedate_to_datetime(msg["Date"])
        assert datetime.fromisoformat(payload["called_at"]) == sent  # no time in the text
        assert "Caller Id: None" in payload["summary"]
        assert raw["status"] == "processed"
        assert await mail.query("SELECT 1 FROM submission") == []
        await mail.intake.events.settle()
        assert mail.intake.events.of("lead.ingested") == []
        assert len(mail.intake.events.of("call.received")) == 1
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


@pytest.mark.parametrize("cache_seconds", [0.0, 0.5])
async def test_revoked_source_refuses_mail(
    intake: Intake,
    database_url: str,
    common_settings: Any,
    topology: Topology,
    cache_seconds: float,
) -> None:
    """A source found by its address is cached for INTAKE_KEY_CACHE_SECONDS at most: once its
    source is revoked, RCPT is refused (at once without the cache, after it otherwise)."""
    async with listening(
        intake, database_url, common_settings, topology, key_cache_seconds=cache_seconds
    ) as mail:
        source = await mail.intake.source("acme")
        msg = message("Name: Bo Poe\nPhone: 519-555-0166", sender="x@example.com")
        assert await mail.send(msg, mail.address(source)) == {}
        r = await mail.intake.client.post(
            f"/v1/admin/sources/{source['id']}/revoke", headers=mail.intake.staff("acme")
        )
        assert r.status_code == 204, r.text
        await asyncio.sleep(cache_seconds)  # the listener's entry expires
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await mail.send(message("Name: Ann", sender="x@example.com"), mail.address(source))
        [(code, _)] = refused.value.recipients.values()
        assert code == 550


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


async def test_resent_message_without_message_id_is_one_lead(mail: Mail) -> None:
    source = await mail.intake.source("acme")
    body = "Name: Ann Roe\nEmail: ann.roe@example.com\nPhone: 519-555-0177"
    msg = message(body, sender="x@example.com", with_id=False)
    assert "Message-ID" not in msg
    for _ in range(2):
        assert await mail.send(msg, mail.address(source)) == {}
    [first] = await mail.intake.events.wait_for("lead.ingested")
    # Another message without Message-ID, from the same sender: a lead of its own.
    other = message(body.replace("Ann", "Bo"), sender="x@example.com", with_id=False)
    assert await mail.send(other, mail.address(source)) == {}
    await mail.intake.events.wait_for("lead.duplicate")  # same e-mail address: merged
    await mail.intake.events.settle()
    assert len(mail.intake.events.of("lead.ingested")) == 1
    assert len(mail.intake.events.of("lead.duplicate")) == 1
    raws = await mail.query("SELECT message_id FROM raw_payload ORDER BY received_at")
    assert len(raws) == 2 and raws[0]["message_id"] != raws[1]["message_id"]
    assert all(r["message_id"].startswith("content-sha256:") for r in raws)
    assert len(await mail.query("SELECT 1 FROM submission")) == 2
    assert first["correlation_id"] != raws[0]["message_id"]  # the raw payload's id


async def test_call_notification_with_a_number_and_a_recording(mail: Mail) -> None:
    source = await mail.intake.source("acme")
    msg = message(
        "Phone Lead from CarGurus\n"
        "Caller Id: (519) 555-0158\n"
        "Call Duration: 02:05\n"
        "Call Time: 2026-12-01T13:59:00-05:00\n"
        "Listen to the call: https://calls.example.com/recording/8812\n",
        sender=SENDERS["cargurus"],
    )
    for _ in range(2):  # resent: one call
        assert await mail.send(msg, mail.address(source)) == {}
    [call] = await mail.intake.events.wait_for("call.received")
    payload = call["payload"]
    assert payload["caller_phone"] == "+15195550158"  # read for the dealership's country
    assert payload["caller_id"] is None
    assert payload["duration_seconds"] == 125
    assert payload["called_at"] == "2026-12-01T18:59:00Z"
    assert payload["recording_url"] == "https://calls.example.com/recording/8812"
    await mail.intake.events.settle()
    assert len(mail.intake.events.of("call.received")) == 1
    assert mail.intake.events.of("lead.ingested") == []
    assert mail.intake.events.of("lead.rejected") == []
    assert len(await mail.query("SELECT 1 FROM raw_payload")) == 1


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


def ehlo_features(smtp: smtplib.SMTP) -> set[str]:
    code, _ = smtp.ehlo()
    assert code == 250
    return set(smtp.esmtp_features)


async def test_starttls_offered_with_a_certificate_and_a_lead_sent_over_it(
    intake: Intake, database_url: str, common_settings: Any, topology: Topology, certs: Certs
) -> None:
    async with listening(
        intake,
        database_url,
        common_settings,
        topology,
        tls=certs.client(),
        smtp_tls_cert=certs.cert,
        smtp_tls_key=certs.key,
    ) as mail:

        def handshake() -> tuple[set[str], set[str], str | None]:
            with mail.connect() as smtp:
                before = ehlo_features(smtp)
                code, _ = smtp.starttls(context=certs.client())
                assert code == 220
                assert isinstance(smtp.sock, ssl.SSLSocket)
                return before, ehlo_features(smtp), smtp.sock.version()

        before, after, version = await asyncio.to_thread(handshake)
        assert "starttls" in before
        assert "starttls" not in after  # offered once, and the session goes on encrypted
        assert version is not None and version.startswith("TLS")

        def untrusted() -> None:  # the certificate served is the one configured
            with mail.connect() as smtp:
                smtp.starttls(context=ssl.create_default_context())

        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.to_thread(untrusted)

        source = await mail.intake.source("acme")
        msg = message("Name: Ann Roe\nEmail: ann.roe@example.com", sender="x@example.com")
        assert await mail.send(msg, mail.address(source)) == {}  # after STARTTLS (mail.tls)
        [raw] = await mail.query(
            "SELECT format, body FROM raw_payload WHERE source_id = $1", uuid.UUID(source["id"])
        )
        assert raw["format"] == "email" and wire(raw["body"]) == msg.as_bytes()
        [event] = await mail.intake.events.wait_for("lead.ingested")
        assert event["payload"]["person"]["email"] == "ann.roe@example.com"
        [lead] = await mail.query(
            "SELECT first_name, last_name FROM lead WHERE id = $1", uuid.UUID(event["lead_id"])
        )
        assert tuple(lead) == ("Ann", "Roe")


async def test_no_starttls_without_a_certificate(mail: Mail) -> None:
    def ask() -> set[str]:
        with mail.connect() as smtp:
            features = ehlo_features(smtp)
            with pytest.raises(smtplib.SMTPNotSupportedError):
                smtp.starttls()
            return features

    features = await asyncio.to_thread(ask)
    assert "size" in features  # the EHLO answer was read
    assert "starttls" not in features


async def test_require_tls_refuses_mail_before_starttls(
    intake: Intake, database_url: str, common_settings: Any, topology: Topology, certs: Certs
) -> None:
    async with listening(
        intake,
        database_url,
        common_settings,
        topology,
        smtp_tls_cert=certs.cert,
        smtp_tls_key=certs.key,
        smtp_require_tls=True,
    ) as mail:
        source = await mail.intake.source("acme")
        msg = message("Name: Bo Poe\nPhone: 519-555-0166", sender="x@example.com")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await mail.send(msg, mail.address(source))  # in clear
        assert refused.value.smtp_code == 530
        assert await mail.query("SELECT 1 FROM raw_payload") == []
        mail.tls = certs.client()
        assert await mail.send(msg, mail.address(source)) == {}
        [event] = await mail.intake.events.wait_for("lead.ingested")
        assert event["payload"]["person"]["phone"] == "+15195550166"


# Nothing listens here: settings refused before the listener connects anywhere raise
# TlsSettingsError, not a connection error.
NO_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/none"


def bad_tls_settings(certs: Certs, tmp_path: Path) -> dict[str, dict[str, Any]]:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    other_key = tmp_path / "other-key.pem"
    certs.ca.issue_cert("elsewhere.example").private_key_pem.write_to_path(str(other_key))
    return {
        "cert without key": {"smtp_tls_cert": certs.cert},
        "key without cert": {"smtp_tls_key": certs.key},
        "require without cert": {"smtp_require_tls": True},
        "missing file": {"smtp_tls_cert": str(tmp_path / "absent.pem"), "smtp_tls_key": certs.key},
        "not PEM": {"smtp_tls_cert": str(not_pem), "smtp_tls_key": certs.key},
        "key of another cert": {"smtp_tls_cert": certs.cert, "smtp_tls_key": str(other_key)},
    }


MESSAGES = {
    "cert without key": "INTAKE_SMTP_TLS_CERT is set but INTAKE_SMTP_TLS_KEY is not",
    "key without cert": "INTAKE_SMTP_TLS_KEY is set but INTAKE_SMTP_TLS_CERT is not",
    "require without cert": "INTAKE_SMTP_REQUIRE_TLS needs",
    "missing file": "cannot load INTAKE_SMTP_TLS_CERT .*absent.pem.*No such file",
    "not PEM": "cannot load INTAKE_SMTP_TLS_CERT .*not.pem",
    "key of another cert": "cannot load .*other-key.pem.*(KEY_VALUES_MISMATCH|mismatch)",
}


@pytest.mark.parametrize("case", sorted(MESSAGES))
async def test_bad_tls_settings_stop_the_listener(case: str, certs: Certs, tmp_path: Path) -> None:
    kw = bad_tls_settings(certs, tmp_path)[case]
    settings = IntakeSettings(database_url=NO_DATABASE, smtp_port=0, **kw)
    with pytest.raises(TlsSettingsError, match=MESSAGES[case]):
        async with smtp_listener(settings):
            pytest.fail("the listener started")


async def test_console_script_exits_with_the_reason(certs: Certs) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "INTAKE_DATABASE_URL": NO_DATABASE,
        "INTAKE_SMTP_PORT": "0",
        "INTAKE_SMTP_TLS_CERT": certs.cert,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "intake.entrypoints.smtp",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 1
    text = err.decode()
    assert "forecourt-intake-smtp: INTAKE_SMTP_TLS_CERT is set but INTAKE_SMTP_TLS_KEY" in text
    assert "Traceback" not in text


async def _answers(port: int, proc: asyncio.subprocess.Process, wait_s: float) -> None:
    """Until the listener's port takes connections (a loaded machine imports slowly)."""
    async with asyncio.timeout(wait_s):
        while True:
            assert proc.returncode is None, "the listener exited"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.3)
                continue
            writer.close()
            await writer.wait_closed()
            return


async def test_console_script_on_uvloop_takes_a_lead_over_starttls(
    intake: Intake, database_url: str, common_settings: Any, certs: Certs
) -> None:
    """`forecourt-intake-smtp` as `make up` starts it: its own process on uvloop, STARTTLS
    required (aiosmtpd swaps the transport's protocol, which uvloop's transports must allow)."""
    await intake.no_test_rules("acme")
    source = await intake.source("acme")
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "INTAKE_DATABASE_URL": database_url,
        "INTAKE_SMTP_PORT": str(port),
        "INTAKE_SMTP_DOMAIN": DOMAIN,
        "INTAKE_SMTP_TLS_CERT": certs.cert,
        "INTAKE_SMTP_TLS_KEY": certs.key,
        "INTAKE_SMTP_REQUIRE_TLS": "true",
        "INTAKE_RELAY_MODE": "thread",
        "FORECOURT_AMQP_URL": common_settings.amqp_url,
        "FORECOURT_NAMESPACE": common_settings.namespace,
        "FORECOURT_DELIVERY_LIMIT": str(common_settings.delivery_limit),
        "FORECOURT_LOG_LEVEL": "INFO",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "intake.entrypoints.smtp",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _answers(port, proc, 180)

        def send() -> dict[str, Any]:
            msg = message("Name: Ann Roe\nEmail: ann.roe@example.com", sender="x@example.com")
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.starttls(context=certs.client())
                return smtp.send_message(msg, to_addrs=[f"{source['id']}@{DOMAIN}"])

        assert await asyncio.to_thread(send) == {}
        [event] = await intake.events.wait_for("lead.ingested", within=60)
        assert event["payload"]["person"]["email"] == "ann.roe@example.com"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = err.decode(errors="replace")
    assert f"smtp: listening on 127.0.0.1:{port} for *@{DOMAIN} (uvloop)" in text, text[-2000:]
    assert proc.returncode == 0 and "Traceback" not in text, text[-2000:]

"""An e-mail as intake reads it: MIME (stdlib `email`, compat32 policy) down to what a person
would look at, i.e. the sender, the subject, the text (HTML turned into text) and the ADF
documents, whether the body is one or an attachment holds one.

Only reading happens here; deciding what the text says is `email_layouts`' job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC
from email import policy
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Final

from intake.domain import clean

# Parts looked at per message, and text kept per part: a message is a lead, not a mailbox.
MAX_PARTS: Final = 50
MAX_TEXT: Final = 200_000
HEADER: Final = 300  # characters kept of a header (sender, subject, Message-ID)

_ADF_START = re.compile(rb"<\s*(\?adf|adf[\s>])", re.IGNORECASE)


@dataclass
class ReadMessage:
    sender: str = ""  # the From address, lower-case
    subject: str = ""
    message_id: str | None = None
    date: str = ""
    text: str = ""  # the body as a person reads it: plain text, else the HTML's text
    adf: list[bytes] = field(default_factory=list)  # ADF documents: the body or attachments


def parse_mime(raw: bytes) -> Message:
    """The MIME tree. compat32, not the default policy: the default policy parses a header anew
    on every access (`get_content_type()` alone re-parses Content-Type each time), which made
    reading a one-part lead e-mail cost ~2 ms of CPU, most of the listener's parsing. Reading
    here only needs each part's type, charset, filename and decoded bytes, which compat32 gives
    alike; the few headers shown (From, Subject, Date) are decoded by `_header`."""
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def read_message(raw: bytes) -> ReadMessage:
    msg = parse_mime(raw)
    out = ReadMessage(
        sender=parseaddr(_header(msg, "From"))[1].lower(),
        subject=_header(msg, "Subject"),
        message_id=_header(msg, "Message-ID") or None,
        date=_header(msg, "Date"),
    )
    plain: list[str] = []
    html: list[str] = []
    for n, part in enumerate(msg.walk()):
        if n >= MAX_PARTS:
            break
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = (part.get_filename() or "").lower()
        data = _payload_bytes(part)
        if data is None:
            continue
        is_xml = ctype in ("text/xml", "application/xml") or filename.endswith((".xml", ".adf"))
        if (is_xml or _ADF_START.search(data[:4096])) and _ADF_START.search(data):
            out.adf.append(data)
            continue
        if part.get_content_disposition() == "attachment":
            continue  # a PDF or an image: not read
        if ctype == "text/plain":
            plain.append(_decode(part, data))
        elif ctype == "text/html":
            html.append(html_text(_decode(part, data)))
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(html)
    out.text = clean.multi_line(text)[:MAX_TEXT]
    return out


def _header(msg: Message, name: str) -> str:
    """A header as a person reads it: encoded words decoded, raw UTF-8 (SMTPUTF8) read as
    such, on one line, capped."""
    value = msg.get(name)
    if value is None:
        return ""
    return " ".join(clean.one_line(_decoded(value)).split())[:HEADER].strip()


def _decoded(value: str | Header) -> str:
    try:
        pieces = decode_header(value)
    except (ValueError, LookupError, UnicodeError, AssertionError):  # a broken encoded word
        return str(value)
    if len(pieces) == 1 and isinstance(pieces[0][0], str):
        return pieces[0][0]  # plain ASCII: nothing to decode
    if any(charset == "unknown-8bit" for _, charset in pieces):  # raw 8-bit: UTF-8 (RFC 6532)
        return b"".join(p if isinstance(p, bytes) else p.encode() for p, _ in pieces).decode(
            "utf-8", errors="replace"
        )
    try:
        return str(make_header(pieces))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def _payload_bytes(part: Message) -> bytes | None:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, LookupError):
        return None
    return data if isinstance(data, bytes) else None


def _decode(part: Message, data: bytes) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return data.decode("utf-8", errors="replace")


# --- a message without Message-ID ------------------------------------------------------------
CONTENT_KEY_PREFIX: Final = "content-sha256:"


def content_key(raw: bytes) -> str:
    """What identifies a message that has no Message-ID, so that sending it again is a no-op:
    its sender, date and subject, and each part's type and decoded content. Not the raw bytes:
    a retry through another relay may carry other trace headers (Received, DKIM), fold headers
    otherwise or encode a part anew (8bit, quoted-printable, base64) and choose new MIME
    boundaries; the same message, as a person reads it, gives the same key."""
    msg = parse_mime(raw)
    digest = hashlib.sha256()
    for name in ("From", "Date", "Subject"):
        digest.update(f"{name}:{_identity(msg, name)}\n".encode())
    for n, part in enumerate(msg.walk()):
        if n >= MAX_PARTS:
            break
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True)
        body = data if isinstance(data, bytes) else b""
        lines = [line.rstrip() for line in body.splitlines()]  # line ends and trailing blanks
        digest.update(f"part:{part.get_content_type()}:{len(lines)}\n".encode())
        digest.update(b"\n".join(lines).strip(b"\n"))
    return CONTENT_KEY_PREFIX + digest.hexdigest()


def _identity(msg: Message, name: str) -> str:
    """A header as the key reads it: decoded, unfolded, the address alone, the date in UTC."""
    value = msg.get(name)
    if value is None:
        return ""
    text = " ".join(_decoded(value).split())
    if name == "From":
        return parseaddr(text)[1].lower() or text
    if name == "Date":
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return text
        return when.astimezone(UTC).isoformat() if when.tzinfo else when.isoformat()
    return text


# --- HTML to text ---------------------------------------------------------------------------
# stdlib html.parser: form e-mails are flat <div>/<td>/<p> markup, so the text with one line
# per block element is what a reader sees; no dependency needed for that.
_BLOCKS: Final = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_SKIP: Final = frozenset({"script", "style", "head", "title"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.lines[-1] += data


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html[:MAX_TEXT])
    parser.close()
    lines = (" ".join(line.split()) for line in parser.lines)
    return "\n".join(line for line in lines if line)

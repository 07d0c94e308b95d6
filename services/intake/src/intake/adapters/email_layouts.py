"""What an e-mail lead says, read the way a person reads it, as `LeadSubmission`s.

A message is, in this order:
- ADF (the body, as eLead demands, or an attachment): intake's ADF adapter reads it;
- a phone-call notification (CarGurus' "Phone Lead from CarGurus"): a call, not a lead;
- a CARFAX report request (AutoTrader.ca): prose, the contact mid-sentence, the VIN in a URL;
- labelled text: `Label: value` lines (AutoTrader.ca structured and inline, CarGurus) or a
  label line followed by its value line (dealer website forms, once the HTML is text);
- anything else: kept, and rejected with the reason that it could not be read (`unparsed`).

The provider is told by the sender's domain, else by the text. Values stay as written (cut to
the caps of `domain.submission`); normalising them is `domain.normalise`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal

from intake.adapters.adf import parse_adf
from intake.adapters.email_message import ReadMessage, read_message
from intake.domain import submission as caps
from intake.domain.call import CallNotice
from intake.domain.submission import LeadSubmission, VehicleIn

Kind = Literal["leads", "call", "unparsed"]

UNPARSED: Final = "unparsed"  # the error (and extensions' layout) of a message not understood


@dataclass
class EmailLeads:
    kind: Kind
    layout: str  # adf, autotrader_carfax, autotrader, cargurus, website_form, labelled, ...
    submissions: list[LeadSubmission] = field(default_factory=list)
    call: CallNotice | None = None  # a call notification: what it says


def parse_email(raw: bytes, *, max_adf_bytes: int, max_adf_prospects: int) -> EmailLeads:
    """Raises `AdfError` for a broken ADF document (as the ADF route does)."""
    msg = read_message(raw)
    if msg.adf:
        subs: list[LeadSubmission] = []
        for doc in msg.adf:
            subs += parse_adf(doc, max_bytes=max_adf_bytes, max_prospects=max_adf_prospects)
        return EmailLeads("leads", "adf", subs[:max_adf_prospects])
    text = msg.text
    provider = _provider(msg)
    if _CALL.search(text) or _CALL.search(msg.subject):
        return EmailLeads("call", "call_notification", call=_call(msg, provider))
    if _CARFAX.search(text):
        sub = _carfax(text)
        layout = "autotrader_carfax"
    else:
        sub, layout = _labelled(text, provider)
    if sub is None:
        return EmailLeads("unparsed", UNPARSED, [_unparsed(msg)])
    extra = {"layout": layout, "subject": msg.subject, "from": msg.sender}
    sub.setdefault("provider", provider)
    if sub.get("requested_at") is None:
        sub["requested_at"] = _date(msg)
    sub["extensions"] = {"email": extra | sub.get("extensions", {})}
    return EmailLeads("leads", layout, [LeadSubmission.model_validate(sub)])


# --- telling what it is ---------------------------------------------------------------------
_CALL = re.compile(r"\bphone lead from\b|\bcaller id\s*:", re.IGNORECASE)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
_CARFAX = re.compile(r"request\w*\s+a\s+carfax\b.*\breport\b", re.IGNORECASE | re.DOTALL)

_PROVIDERS: Final = (
    ("trader.ca", "AutoTrader.ca"),
    ("autotrader", "AutoTrader.ca"),
    ("cargurus", "CarGurus"),
)


def _provider(msg: ReadMessage) -> str | None:
    domain = msg.sender.rpartition("@")[2]
    for needle, name in _PROVIDERS:
        if needle in domain:
            return name
    head = f"{msg.subject}\n{msg.text[:2000]}".lower()
    for needle, name in _PROVIDERS:
        if needle in head:
            return name
    if "form submitted at" in head:
        return "Website"
    return None


def _date(msg: ReadMessage) -> datetime | None:
    try:
        return parsedate_to_datetime(msg.date) if msg.date else None
    except (TypeError, ValueError):
        return None


# --- phone-call notification ---------------------------------------------------------------
# "Phone Lead from CarGurus. Caller Id: None, Duration: 1 minutes, 18 seconds"; other layouts
# put each on its own line, with a call time and a recording link.
_CALLER = re.compile(
    r"\b(?:caller\s*id|caller(?:'s)?\s*(?:phone|number)?|phone\s*number|from\s*number)\s*:\s*"
    r"([^,\n]*?)\s*(?:,|\n|$)",
    re.IGNORECASE,
)
_DURATION = re.compile(r"\b(?:call\s*)?duration\s*:\s*([^\n]*)", re.IGNORECASE)
_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{2})\b")
_UNITS = re.compile(r"(\d+)\s*(h|hours?|hrs?|m|min(?:ute)?s?|s|sec(?:ond)?s?)\b", re.IGNORECASE)
_CALL_TIME = re.compile(
    r"\b(?:call(?:ed)?\s*(?:at|on|time|date)|time\s*of\s*call|date\s*of\s*call)\s*:\s*"
    r"([^\n]+)",
    re.IGNORECASE,
)
_RECORDING = re.compile(
    r"\b(?:call\s*)?recording(?:\s*(?:url|link))?\s*:\s*(https?://\S+)", re.IGNORECASE
)
_FROM_PROVIDER = re.compile(r"\bphone lead from\s+([A-Z][\w.&' -]{1,40}?)\s*(?:[.,:;\n]|$)")


def _call(msg: ReadMessage, provider: str | None) -> CallNotice:
    text = _CDATA.sub(r"\1", msg.text).strip() or msg.subject
    caller = _CALLER.search(text)
    duration = _DURATION.search(text)
    stated = _CALL_TIME.search(text)
    labelled = _RECORDING.search(text)
    recording = labelled[1] if labelled else None
    if recording is None:  # a link to the recording, unlabelled
        recording = next((u for u in _URL.findall(text) if "record" in u.lower()), None)
    named = _FROM_PROVIDER.search(text) or _FROM_PROVIDER.search(msg.subject)
    return CallNotice(
        summary=text[:1000],
        caller=caller[1] if caller else None,
        duration_seconds=_seconds(duration[1]) if duration else None,
        called_at=_when(stated[1].strip().rstrip(".,;")) if stated else None,
        sent_at=_date(msg),
        recording_url=recording,
        provider=provider or (named[1].strip() if named else None),
    )


def _seconds(said: str) -> int | None:
    """ "1 minutes, 18 seconds", "1 min 18 s", "01:18", "1:02:03", "78 seconds": seconds."""
    if clock := _CLOCK.match(said):
        return int(clock[1] or 0) * 3600 + int(clock[2]) * 60 + int(clock[3])
    total = None
    for amount, unit in _UNITS.findall(said):
        scale = {"h": 3600, "m": 60, "s": 1}[unit[0].lower()]
        total = (total or 0) + int(amount) * scale
    return total


def _when(said: str) -> datetime | None:
    """A stated time with its zone (RFC 2822 or ISO 8601); None for a time without one."""
    try:
        return datetime.fromisoformat(said)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(said)
    except (TypeError, ValueError, IndexError):
        return None


# --- CARFAX report request ------------------------------------------------------------------
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_IN_PROSE = re.compile(r"phone\s*:?\s*(\+?[\d\s().-]{7,20}\d)", re.IGNORECASE)
_AD = re.compile(r"your\s+(.+?)\s+((?:19|20)\d\d)\s*\(stock\s*#?\s*:?\s*([^)]+)\)", re.IGNORECASE)
_VIN_IN_URL = re.compile(r"[?&]vin=([A-HJ-NPR-Z0-9]{11,17})", re.IGNORECASE)
_URL = re.compile(r"https?://\S+")


def _carfax(text: str) -> dict[str, Any] | None:
    email = _EMAIL.search(_URL.sub(" ", text))
    phone = _PHONE_IN_PROSE.search(text)
    if email is None and phone is None:
        return None
    vehicle: dict[str, Any] = {}
    if ad := _AD.search(text):
        make, _, model = ad[1].strip().partition(" ")
        vehicle |= {"make": make, "model": model or None, "year": ad[2], "stock": ad[3].strip()}
    if vin := _VIN_IN_URL.search(text):
        vehicle["vin"] = vin[1].upper()
    ad_url = next((u for u in _URL.findall(text) if "carfax" not in u.lower()), None)
    return {
        "email": email[0].rstrip(".") if email else None,
        "phone": phone[1].strip() if phone else None,
        "vehicle": _vehicle(vehicle),
        "lead_type": "carfax_report_request",
        "comments": "Requests a CARFAX Canada report on the vehicle.",
        "extensions": {"ad_url": ad_url} if ad_url else {},
    }


# --- labelled text --------------------------------------------------------------------------
# A reader's label (lower-case, without its colon) -> the field it names.
_LABELS: Final = {
    "name": "full_name",
    "full name": "full_name",
    "customer name": "full_name",
    "first name": "first_name",
    "last name": "last_name",
    "email": "email",
    "e-mail": "email",
    "email address": "email",
    "phone": "phone",
    "phone number": "phone",
    "telephone": "phone",
    "mobile": "phone",
    "cell": "phone",
    "comment": "comments",
    "comments": "comments",
    "message": "comments",
    "questions": "comments",
    "vin": "vehicle.vin",
    "stock number": "vehicle.stock",
    "stock #": "vehicle.stock",
    "stock": "vehicle.stock",
    "year": "vehicle.year",
    "make": "vehicle.make",
    "model": "vehicle.model",
    "trim": "vehicle.trim",
    "price": "vehicle.price",
    "listed price": "vehicle.price",
    "condition": "vehicle.condition",
    "vehicle": "vehicle.title",
    "source": "channel",
    "submission date": "requested_at",
    "postal code": "ext.postal_code",
    "zip": "ext.postal_code",
    "zip code": "ext.postal_code",
    "preferred contact method": "ext.preferred_contact",
    "location": "ext.dealer",
    "ad details dealer": "ext.dealer",
    "trade-in?": "ext.trade_in",
    "view listing on cargurus": "ext.listing_url",
    "sourceurl": "ext.listing_url",
    "this form submitted at": "ext.form_url",
}
# Words a provider writes where it has no value.
_NOTHING: Final = frozenset({"", "unknown", "not specified", "n/a", "na", "none", "null", "-"})
_PLACEHOLDER_NAMES: Final = frozenset({"name", "first name", "last name", "customer"})

_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z #?/'-]{0,38}?)\s*:\s*(.*)$")
_MESSAGE_NO_COLON = re.compile(r"^\s*message\s+(\S.*)$", re.IGNORECASE)


def fields(text: str) -> list[tuple[str, str]]:
    """(label, value) pairs in reading order: `Label: value`; `Label:` then lines without a
    label (a section's text); a known label alone on its line then its value on the next (an
    HTML form's `<div>label</div><div>value</div>`); AutoTrader's `Message` without colon."""
    lines = [line.strip() for line in text.splitlines()]
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        labelled = _LINE.match(line)
        if (m := _MESSAGE_NO_COLON.match(line)) and (
            labelled is None or labelled[1].lower() not in _LABELS
        ):
            pairs.append(("message", m[1]))
            continue
        if (m := _LINE.match(line)) and not line.lower().startswith(("http:", "https:")):
            label, value = m[1].strip().lower(), m[2].strip()
            if not value:  # a section title, or a value on the lines below
                body = []
                while i < len(lines) and lines[i] and not _LINE.match(lines[i]):
                    if _MESSAGE_NO_COLON.match(lines[i]):
                        break
                    body.append(lines[i])
                    i += 1
                value = "\n".join(body)
            pairs.append((label, value))
            continue
        label = line.lower()
        if label in _LABELS and i < len(lines) and lines[i] and lines[i].lower() not in _LABELS:
            pairs.append((label, lines[i]))
            i += 1
    return pairs


def _labelled(text: str, provider: str | None) -> tuple[dict[str, Any] | None, str]:
    sub: dict[str, Any] = {}
    vehicle: dict[str, Any] = {}
    ext: dict[str, Any] = {}
    for label, value in fields(text):
        target = _LABELS.get(label)
        if target is None or value.strip().lower() in _NOTHING:
            continue
        if target.startswith("vehicle."):
            vehicle.setdefault(target.removeprefix("vehicle."), value)
        elif target.startswith("ext."):
            ext.setdefault(target.removeprefix("ext."), value)
        elif target == "comments" and "comments" in sub:
            sub["comments"] += "\n" + value
        else:
            sub.setdefault(target, value)
    _names(sub)
    if title := vehicle.pop("title", None):
        vehicle = _title(title) | vehicle
    if url := ext.get("form_url"):
        vehicle = _slug_vehicle(url) | vehicle
    if "make" not in vehicle and (said := _VEHICLE_IN_PROSE.search(sub.get("comments", ""))):
        vehicle = _title(said[1]) | vehicle  # "... about your 2021 Tesla Model 3 ...": the car
    if not (sub.get("email") or sub.get("phone") or sub or vehicle):
        return None, UNPARSED
    if sub.get("requested_at"):
        try:
            sub["requested_at"] = datetime.fromisoformat(sub["requested_at"])
        except ValueError:
            ext["submission_date"] = sub.pop("requested_at")
    sub = {k: _cap(k, v) for k, v in sub.items()}
    sub["vehicle"] = _vehicle(vehicle)
    sub["extensions"] = {k: v[: caps.EXTENSION_TEXT] for k, v in ext.items()}
    return sub, _layout(text, provider)


def _layout(text: str, provider: str | None) -> str:
    if provider == "AutoTrader.ca":
        return "autotrader_structured" if "Customer Information" in text else "autotrader_inline"
    if provider == "CarGurus":
        return "cargurus"
    if provider == "Website":
        return "website_form"
    return "labelled"


def _names(sub: dict[str, Any]) -> None:
    """Placeholder names dropped; "joe Unknown" is a first name and no last name."""
    for key in ("first_name", "last_name", "full_name"):
        value = sub.get(key)
        if value is None:
            continue
        words = [w for w in value.split() if w.lower() not in _NOTHING]
        if not words or " ".join(words).lower() in _PLACEHOLDER_NAMES:
            sub.pop(key)
        else:
            sub[key] = " ".join(words)
    full = sub.get("full_name")
    if full and "first_name" not in sub and "last_name" not in sub and " " not in full:
        sub["first_name"] = sub.pop("full_name")  # one word, e.g. "Tester"


_VEHICLE_IN_PROSE = re.compile(r"\b((?:19|20)\d\d\s+[A-Z][\w-]*\s+[^.,;!?\n]+)")
_YEAR_FIRST = re.compile(r"^\s*((?:19|20)\d\d)\s+(\S+)\s+(\S+(?:\s+\d\S*)?)\s*(.*)$")


def _title(title: str) -> dict[str, Any]:
    """ "2022 Tesla Model 3 Long Range AWD": year, make, model (a word and its number), trim."""
    m = _YEAR_FIRST.match(title)
    if m is None:
        return {"comments": title}
    return {"year": m[1], "make": m[2], "model": m[3], "trim": m[4] or None}


_SLUG = re.compile(r"/((?:19|20)\d\d)-([a-z0-9-]+?)(?:-([a-z]{1,3}\d{3,}))?/?$", re.IGNORECASE)


def _slug_vehicle(url: str) -> dict[str, Any]:
    """A listing URL's slug: `/listing/2021-tesla-model-3-standard-range-plus-d9779/`."""
    m = _SLUG.search(url.split("?")[0])
    if m is None:
        return {}
    make, _, rest = m[2].partition("-")
    return {
        "year": m[1],
        "make": make.title(),
        "model": rest.replace("-", " ").title() or None,
        "stock": m[3].upper() if m[3] else None,
    }


def _vehicle(values: dict[str, Any]) -> dict[str, Any] | None:
    kept = {k: v for k, v in values.items() if v not in (None, "")}
    if not kept:
        return None
    out: dict[str, Any] = {}
    for key, value in kept.items():
        limit = caps.COMMENTS if key == "comments" else caps.VEHICLE
        out[key] = str(value)[:limit]
    return VehicleIn.model_validate(out).model_dump(exclude_none=True)


_CAPS: Final = {
    "first_name": caps.NAME,
    "last_name": caps.NAME,
    "full_name": caps.NAME,
    "email": caps.EMAIL,
    "phone": caps.PHONE,
    "comments": caps.COMMENTS,
}


def _cap(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return value[: _CAPS.get(key, caps.LABEL)]
    return value


def _unparsed(msg: ReadMessage) -> LeadSubmission:
    """No contact can be read: a submission with none, which normalising rejects
    (`invalid.personal_data`); the raw message stays for the source's admin to read."""
    return LeadSubmission(
        comments=msg.text[: caps.COMMENTS] or None,
        extensions={"email": {"layout": UNPARSED, "subject": msg.subject, "from": msg.sender}},
    )


__all__ = ["UNPARSED", "EmailLeads", "fields", "parse_email", "read_message"]

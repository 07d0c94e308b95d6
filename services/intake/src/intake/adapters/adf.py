"""ADF (Auto-lead Data Format 1.0) to `LeadSubmission`s: one per `<prospect>`.

Values stay as written (trimmed); cleaning them is `intake.domain.normalise`'s job. This module
only decides structure: which name is first/last/full, which phone is primary, which vehicle is
wanted and which are trade-ins, which date is the request date.

`extensions` keeps every element and attribute the mapping did not use, so nothing a provider
sent is lost. Its shape, by scope (a key only when something is left there):

    {"prospect": {...}, "vehicle": {...}, "trade_ins": [{...}, ...], "customer": {...},
     "contact": {...}, "vendor": {...}, "provider": {...}}

"contact" is the customer contact that was mapped, "vendor" the whole dealer block, and
"trade_ins" one dict per entry of `trade_ins`, in the same order (empty where nothing is left).

Inside a scope each leftover element is keyed by its lower-case name. An element with text
only becomes that text; otherwise a dict of its attributes, its own text under "text" and its
children by the same rule. A name seen twice becomes a list in document order. Elements with
no text anywhere inside carry no data and are dropped. E.g. `<partner-score value="hot">97
</partner-score>` in a vehicle is `{"vehicle": {"partner-score": {"value": "hot", "text":
"97"}}}`. A `<requestdate>` that cannot be read stays in `extensions["prospect"]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from pydantic import ValidationError

from intake.adapters.adf_text import parse_adf_date
from intake.adapters.adf_xml import AdfError, load_adf_tree
from intake.domain.submission import LeadSubmission, VehicleIn

__all__ = ["AdfError", "parse_adf"]

_TRADE_IN_INTERESTS = frozenset({"trade-in", "tradein", "trade", "sell"})
_NAME_PARTS = frozenset({"first", "middle", "suffix", "last", "full"})
_LEAD_TYPE = "leadtype"


MAX_PROSPECTS = 100  # per document; INTAKE_MAX_ADF_PROSPECTS


def parse_adf(
    body: bytes | str, *, max_bytes: int = 2_000_000, max_prospects: int = MAX_PROSPECTS
) -> list[LeadSubmission]:
    """Parse an ADF document into one `LeadSubmission` per `<prospect>`.

    Raises `AdfError` for a body that is too large, not XML, unsafe (DOCTYPE, too deep or too
    many elements), not rooted at `<adf>`, without a `<prospect>` or with more than
    `max_prospects`, or with a value over its cap.
    """
    root = load_adf_tree(body, max_bytes=max_bytes)
    if root.tag != "adf":
        raise AdfError("adf", f"the root element is <{root.tag}>, not <adf>")
    prospects = _children(root, "prospect")
    if not prospects:
        raise AdfError("adf/prospect", "no <prospect> element: nothing to take in")
    if len(prospects) > max_prospects:
        raise AdfError(
            "adf/prospect",
            f"{len(prospects)} prospects; at most {max_prospects} per document "
            "(send the others in further documents)",
        )
    submissions = []
    for index, element in enumerate(prospects):
        try:
            submissions.append(_Prospect(element).submission())
        except ValidationError as exc:  # a value over its cap (or a list over its length)
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "prospect"
            if len(prospects) > 1:
                where = f"prospect[{index}].{where}"
            raise AdfError(where, error["msg"]) from exc
    return submissions


class _Prospect:
    """Maps one `<prospect>`, remembering the elements it used; the rest become extensions."""

    def __init__(self, element: Element) -> None:
        self.element = element
        self.used: set[int] = set()  # ids of used elements, alive as long as the tree

    def submission(self) -> LeadSubmission:
        prospect = self.element
        customer = self._use(_child(prospect, "customer"))
        contact = self._contact(customer)
        provider = self._use(_child(prospect, "provider"))
        wanted, trade_ins = self._vehicles()
        first_name, last_name, full_name = self._names(contact)
        phone, other_phones = self._phones(contact)
        return LeadSubmission(
            source_lead_id=self._lead_id(customer, contact),
            requested_at=self._requested_at(),
            first_name=first_name,
            last_name=last_name,
            full_name=full_name,
            email=self._text(contact, "email"),
            phone=phone,
            other_phones=other_phones,
            vehicle=self._vehicle(wanted) if wanted is not None else None,
            trade_ins=[self._vehicle(vehicle) for vehicle in trade_ins],
            comments=self._text(customer, "comments"),
            campaign=self._text(provider, "campaign"),
            lead_type=self._lead_type(provider),
            provider=self._text(provider, "name") or self._text(provider, "service"),
            # Last on purpose (arguments run left to right): what the mapping above left unused.
            extensions=self._extensions(customer, contact, provider, wanted, trade_ins),
        )

    # -- structure ------------------------------------------------------------------------

    def _contact(self, customer: Element | None) -> Element | None:
        # The spec marks the main contact with primarycontact="1"; otherwise the first one.
        contacts = _children(customer, "contact")
        primary = [c for c in contacts if _attr(c, "primarycontact") == "1"]
        return self._use(next(iter(primary or contacts), None))

    def _vehicles(self) -> tuple[Element | None, list[Element]]:
        # The first vehicle not offered in trade is the one wanted; further wanted vehicles have
        # no field and stay in extensions["prospect"].
        vehicles = _children(self.element, "vehicle")
        trade_ins = [v for v in vehicles if _attr(v, "interest") in _TRADE_IN_INTERESTS]
        wanted = [v for v in vehicles if v not in trade_ins]
        for vehicle in trade_ins:
            self._use(vehicle)
        return self._use(wanted[0] if wanted else None), trade_ins

    def _vehicle(self, element: Element) -> VehicleIn:
        price = self._use(_child(element, "price"))
        odometer = self._use(_child(element, "odometer"))
        return VehicleIn(
            year=self._text(element, "year"),
            make=self._text(element, "make"),
            model=self._text(element, "model"),
            trim=self._text(element, "trim"),
            vin=self._text(element, "vin"),
            stock=self._text(element, "stock"),
            condition=_strip(element.get("status")),  # new/used; <condition> is wear, kept aside
            price=_text(price),
            currency=_strip(price.get("currency")) if price is not None else None,
            odometer=_text(odometer),
            odometer_units=_strip(odometer.get("units")) if odometer is not None else None,
            interest=_strip(element.get("interest")),
            comments=self._text(element, "comments"),
        )

    def _names(self, contact: Element | None) -> tuple[str | None, str | None, str | None]:
        # `part` is the spec; some providers write the part in `type` (type="full").
        found: dict[str, str] = {}
        for name in _children(contact, "name"):
            part, text = _name_part(name), _text(name)
            if part in ("first", "last", "full") and text and part not in found:
                found[part] = text
                self._use(name)
        return found.get("first"), found.get("last"), found.get("full")

    def _phones(self, contact: Element | None) -> tuple[str | None, list[str]]:
        # First number with digits is primary; a fax is no way to reach a buyer, so it stays
        # in extensions. Identical numbers (one per time of day) are listed once.
        found: dict[str, None] = {}  # an ordered set: de-duplicating stays linear
        for phone in _children(contact, "phone"):
            text = _text(phone)
            if text and any(c.isdigit() for c in text) and _attr(phone, "type") != "fax":
                self._use(phone)
                found[text] = None
        numbers = list(found)
        return (numbers[0] if numbers else None), numbers[1:]

    def _lead_id(self, customer: Element | None, contact: Element | None) -> str | None:
        # The prospect's <id>, else the customer's (some CRMs put the lead's id there): a
        # document posted twice is then a resend. A vehicle's <id> names a listing, not the lead.
        for scope in (self.element, customer, contact):
            ids = [i for i in _children(scope, "id") if _attr(i, "source") != _LEAD_TYPE]
            if found := self._first_text(ids):
                return found
        return None

    def _lead_type(self, provider: Element | None) -> str | None:
        ids = _children(self.element, "id")
        return self._first_text(
            [
                *_children(self.element, _LEAD_TYPE),
                *(i for i in ids if _attr(i, "source") == _LEAD_TYPE),
                *_children(provider, _LEAD_TYPE),
            ]
        )

    def _requested_at(self) -> datetime | None:
        element = _child(self.element, "requestdate")
        when = parse_adf_date(_text(element) or "")
        if when is not None:  # an unreadable date is not used, so extensions keep it
            self._use(element)
        return when

    # -- extensions -----------------------------------------------------------------------

    def _extensions(
        self,
        customer: Element | None,
        contact: Element | None,
        provider: Element | None,
        wanted: Element | None,
        trade_ins: list[Element],
    ) -> dict[str, Any]:
        vendor = self._use(_child(self.element, "vendor"))
        scopes: dict[str, Any] = {
            "vehicle": self._leftovers(wanted, skip={"interest", "status"}),
            "trade_ins": [self._leftovers(v, skip={"interest", "status"}) for v in trade_ins],
            "customer": self._leftovers(customer),
            "contact": self._leftovers(contact, skip={"primarycontact"}),
            "vendor": self._leftovers(vendor),
            "provider": self._leftovers(provider),
        }
        scopes["prospect"] = self._leftovers(self.element)  # last: sees what scopes used
        if not any(scopes["trade_ins"]):
            scopes["trade_ins"] = []
        return {scope: value for scope, value in sorted(scopes.items()) if value}

    def _leftovers(
        self, element: Element | None, skip: set[str] | frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if element is None:
            return out
        for key, text in element.attrib.items():
            if key not in skip and text.strip():
                _put(out, key, text.strip())
        for child in element:
            value = None if id(child) in self.used else _to_json(child)
            if value is not None:
                _put(out, child.tag, value)
        return out

    # -- element access that records use --------------------------------------------------

    def _use(self, element: Element | None) -> Element | None:
        if element is not None:
            self.used.add(id(element))
        return element

    def _text(self, parent: Element | None, tag: str) -> str | None:
        return self._first_text(_children(parent, tag))

    def _first_text(self, elements: Iterable[Element]) -> str | None:
        # First element with text wins; empty duplicates before it are skipped.
        for element in elements:
            if text := _text(element):
                self._use(element)
                return text
        return None


def _child(parent: Element | None, tag: str) -> Element | None:
    return next(iter(_children(parent, tag)), None)


def _children(parent: Element | None, tag: str) -> list[Element]:
    return [] if parent is None else [child for child in parent if child.tag == tag]


def _text(element: Element | None) -> str | None:
    # itertext: CDATA is text, and a stray inline tag must not hide the rest.
    return _strip("".join(element.itertext())) if element is not None else None


def _strip(value: str | None) -> str | None:
    return (value or "").strip() or None


def _attr(element: Element, name: str) -> str:
    return (element.get(name) or "").strip().lower()


def _name_part(name: Element) -> str:
    for attr in ("part", "type"):
        if (part := _attr(name, attr)) in _NAME_PARTS:
            return part
    # A part we do not know is not guessed at; no part at all means the whole name.
    return "unknown" if _attr(name, "part") else "full"


def _to_json(element: Element) -> Any:
    """Text, or a dict of attributes, "text" and children; None when there is no text."""
    children = [(child.tag, value) for child in element if (value := _to_json(child)) is not None]
    # Own text plus the tails of children: mixed content keeps its words.
    text = ((element.text or "") + "".join(child.tail or "" for child in element)).strip()
    if not children and not text:
        return None
    attributes = [(key, value.strip()) for key, value in element.attrib.items() if value.strip()]
    if not children and not attributes:
        return text
    out: dict[str, Any] = {}
    for key, value in [*attributes, *([("text", text)] if text else []), *children]:
        _put(out, key, value)
    return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    # A repeated name becomes a list in document order; values are never lists themselves.
    if key not in out:
        out[key] = value
    elif isinstance(out[key], list):
        out[key].append(value)
    else:
        out[key] = [out[key], value]

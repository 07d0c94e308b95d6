"""Untrusted ADF body to a small, safe element tree with lower-case names.

Order matters: the size cap comes before any decoding or parsing, parsing goes only through
defusedxml (the Expat linked here predates the 2.6 entity-expansion and huge-token fixes), the
element count is capped while parsing and depth afterwards, because defusedxml caps neither.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

from intake.adapters.adf_text import decode_body, repair_markup

MAX_DEPTH = 64
MAX_ELEMENTS = 20_000


class AdfError(ValueError):
    """An ADF body we cannot or will not read; `field` says where, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def load_adf_tree(body: bytes | str, *, max_bytes: int) -> Element:
    """Return the document's root element, its tags and attribute names lower-cased."""
    _check_size(body, max_bytes)
    text = repair_markup(decode_body(body) if isinstance(body, bytes) else body)
    _check_looks_like_xml(text)
    root = _parse(text)
    _check_limits_and_lower_names(root)
    return root


def _check_size(body: bytes | str, max_bytes: int) -> None:
    # Counting characters first keeps a huge str from being encoded just to be refused.
    too_big = len(body) > max_bytes or (
        isinstance(body, str) and len(body.encode("utf-8", "surrogatepass")) > max_bytes
    )
    if too_big:
        raise AdfError("body", f"larger than the {max_bytes:,}-byte limit")


def _check_looks_like_xml(text: str) -> None:
    # Expat's "syntax error" says little; name the common non-ADF bodies plainly.
    if not text:
        raise AdfError("body", "empty: no XML in the body")
    if text.startswith("<![CDATA["):
        raise AdfError("body", "not XML: a bare CDATA section with no root element")
    if not text.startswith("<"):
        raise AdfError("body", "not XML: the body starts with text, not an element")


class _CountingBuilder(TreeBuilder):
    """The element tree, refusing element `MAX_ELEMENTS + 1` as it is parsed, so a flood of
    elements is not built whole and walked before it is refused: 30,000 `<x/>` (120 KB) cost
    0.9-1.0 s of CPU that way on a loaded 2-core machine, 0.23 s now. That work runs in a
    worker thread, but one holding the GIL by turns with the event loop: /healthz waited up to
    2 s behind it (tests/hostile, adf-too-many-elements)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def start(self, tag: Any, attrs: dict[Any, Any]) -> Element:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise AdfError("body", f"more than {MAX_ELEMENTS:,} elements")
        return super().start(tag, attrs)


def _parse(text: str) -> Element:
    parser = DefusedXMLParser(
        target=_CountingBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(text)
        root: Element = parser.close()
    except defusedxml.DTDForbidden as exc:
        raise AdfError(
            "body",
            "DOCTYPE refused: ADF needs no DTD, and an inline one is how entity-expansion "
            "and external-entity attacks arrive",
        ) from exc
    except defusedxml.DefusedXmlException as exc:
        raise AdfError("body", f"unsafe XML refused: {exc}") from exc
    except ParseError as exc:
        raise AdfError("body", f"not well-formed XML: {exc}") from exc
    return root


def _check_limits_and_lower_names(root: Element) -> None:
    # Iterative walk: a recursive one would itself be the stack overflow the depth cap prevents.
    count = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise AdfError("body", f"elements nested deeper than {MAX_DEPTH} levels")
        if count > MAX_ELEMENTS:
            raise AdfError("body", f"more than {MAX_ELEMENTS:,} elements")
        # Providers write <ADF>, <Prospect>, <VIN>: match names case-insensitively.
        element.tag = _local_name(element.tag)
        element.attrib = {_local_name(key): value for key, value in element.attrib.items()}
        stack.extend((child, depth + 1) for child in element)


def _local_name(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()

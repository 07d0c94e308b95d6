"""Text repairs for ADF as providers really send it, applied before and after XML parsing.

Nothing here parses XML: these functions only decode bytes, undo textual damage that stops a
strict parser (misplaced or curly-quoted declarations, autolinked URLs) and read the date
formats found in the wild. A DOCTYPE is deliberately left in place: it is refused, not repaired.
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime

from intake.domain.dates import read_datetime

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# XML declarations, processing instructions and comments before the root element. `[^>]*`
# also matches the spec PDF's curly quotes and a missing `?` before the closing `>`.
_PROLOG = re.compile(r"(?:\s*(?:<\?[^>]*>|<!--.*?-->))*\s*", re.DOTALL)
_CDATA_OPEN, _CDATA_CLOSE = "<![CDATA[", "]]>"
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^\s<>\"']*)>", re.IGNORECASE)
_BARE_AMPERSAND = re.compile(r"&(?!#?\w+;)")


def decode_body(body: bytes) -> str:
    """Decode by what the bytes are: BOM, else UTF-8, else cp1252, else latin-1.

    The XML declaration is not consulted: .NET writers declare `utf-16` on single-byte text.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace")
    # UTF-16 without a BOM still shows itself: `<` is followed or preceded by a NUL byte.
    if body.startswith(b"<\x00"):
        return body.decode("utf-16-le", errors="replace")
    if body.startswith(b"\x00<"):
        return body.decode("utf-16-be", errors="replace")
    for codec in ("utf-8", "cp1252"):
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode("latin-1")  # maps every byte, so it cannot fail


def repair_markup(text: str) -> str:
    """Make decoded ADF text acceptable to a strict parser without changing its content."""
    return _unwrap_autolinks(_drop_prolog(text))


def _drop_prolog(text: str) -> str:
    # The body is already decoded, so the declaration's encoding can only mislead the parser;
    # `<?adf?>` carries nothing we use. Dropping both also fixes their order and quotes.
    text = text.lstrip("\ufeff")
    match = _PROLOG.match(text)
    return text[match.end() :] if match else text


def _unwrap_autolinks(text: str) -> str:
    # A markdown autolinker turns `https://x` into `<https://x>`, a bogus tag. Inside CDATA it
    # is harmless text and stays as written. CDATA is found with str.find, one pass: a regex
    # split (`<!\[CDATA\[.*?\]\]>`) rescanned to the end from every unclosed `<![CDATA[`,
    # and 40,000 of them (360 KB) took 7 minutes.
    out: list[str] = []
    pos = 0
    while (start := text.find(_CDATA_OPEN, pos)) >= 0:
        end = text.find(_CDATA_CLOSE, start + len(_CDATA_OPEN))
        out.append(_AUTOLINK.sub(_unwrapped, text[pos:start]))
        if end < 0:  # unclosed: the rest is CDATA (the parser will refuse it)
            pos = start
            break
        pos = end + len(_CDATA_CLOSE)
        out.append(text[start:pos])
    else:
        out.append(_AUTOLINK.sub(_unwrapped, text[pos:]))
        return "".join(out)
    out.append(text[pos:])
    return "".join(out)


def _unwrapped(match: re.Match[str]) -> str:
    return _BARE_AMPERSAND.sub("&amp;", match.group(1))


def parse_adf_date(text: str) -> datetime | None:
    """Read an ADF date as written; aware only when the text has a zone. None if unreadable.

    Handles `2025-09-22T18:07`, `.000-08:00`, `2020-04-28T5:30:20`, `-05`, `-0500`, `Z`.
    """
    return read_datetime(text)

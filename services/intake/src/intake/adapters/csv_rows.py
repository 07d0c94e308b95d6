"""Streaming CSV reader for the bulk endpoint: bytes in, a `LeadSubmission` or an error per row.

Files may hold a million rows, so nothing is kept beyond the record being read: bytes are cut at
newlines, decoded incrementally, and a record goes to the `csv` module once it is complete (a
quoted field may span lines and chunks). A bad row yields an error row; it never stops the file.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from intake.domain import clean
from intake.domain.model import FieldError
from intake.domain.submission import ConsentIn, LeadSubmission, VehicleIn

__all__ = [
    "FIELD_PATHS",
    "ColumnMapping",
    "CsvMappingError",
    "CsvRow",
    "iter_rows",
    "read_rows",
    "rows_from_bytes",
]

_NESTED = {"vehicle", "trade_ins", "consent", "extensions"}
FIELD_PATHS: frozenset[str] = frozenset(
    {name for name in LeadSubmission.model_fields if name not in _NESTED}
    | {f"vehicle.{name}" for name in VehicleIn.model_fields}
    | {f"trade_in.{name}" for name in VehicleIn.model_fields}  # the first trade-in
    | {f"consent.{name}" for name in ConsentIn.model_fields}
)
_EXTENSION_PREFIX = "extensions."  # "extensions.<key>": kept as sent under that key

# A record longer than this is a runaway quote, not a lead; report it and move on.
MAX_RECORD_CHARS = 1 << 20
_QUOTE = '"'
_FALLBACK_ENCODING = "cp1252"
_HOST_NAME_CODECS = frozenset({"idna", "punycode"})
_OTHER_PHONES_SPLIT = re.compile(r"[;|,/]")
_MAX_DATE_CHARS = 100
# "07/01/2025 18:44 tt": US order, optional time and AM/PM; a trailing word (the unrendered .NET
# "tt" placeholder, a zone abbreviation) is tolerated and ignored.
_US_DATETIME = re.compile(
    r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
    r"(?:\s*(?P<ampm>[AaPp][Mm])|\s+[A-Za-z]+)?"
)


class CsvMappingError(ValueError):
    """The mapping does not fit the file (or names a field that does not exist)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ColumnMapping(BaseModel):
    """Which column feeds which `LeadSubmission` field: a header name or a 0-based index.

    Checked at construction (unknown field paths, names without a header, bad delimiter or
    encoding: pydantic's ValidationError wraps a CsvMappingError) and again against the file's
    header when reading (a missing or ambiguous header raises CsvMappingError).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    has_header: bool = True
    columns: dict[str, Annotated[str, Field(max_length=200)] | int] = Field(max_length=200)
    date_format: str | None = Field(default=None, max_length=100)  # strptime, for requested_at
    delimiter: str = ","
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _check(self) -> ColumnMapping:
        for path, column in self.columns.items():
            _check_column(path, column, self.has_header)
        if len(self.delimiter) != 1 or self.delimiter in '"\r\n':
            raise CsvMappingError("delimiter", "must be one character, not a quote or newline")
        if self.delimiter != "\t" and clean.has_controls(self.delimiter):
            raise CsvMappingError("delimiter", "a control character other than tab")
        if self.date_format is not None and clean.has_controls(self.date_format):
            raise CsvMappingError("date_format", "contains control characters")
        try:
            codec = codecs.lookup(self.encoding)
        except LookupError as exc:
            raise CsvMappingError("encoding", "unknown encoding") from exc
        # rot_13, zlib_codec, base64_codec...: codecs, but not from bytes to text; idna and
        # punycode encode host names, not files.
        if (
            not codec._is_text_encoding
            or codec.incrementaldecoder is None
            or codec.name in _HOST_NAME_CODECS
        ):
            raise CsvMappingError("encoding", f"{self.encoding!r} is not a text encoding")
        return self

    def resolve(self, header: list[str] | None) -> list[_Column]:
        """Bind the mapping to a file: header names become indexes."""
        by_name: dict[str, list[int]] = {}
        for i, name in enumerate(header or []):
            by_name.setdefault(name.strip().casefold(), []).append(i)
        resolved: list[_Column] = []
        for path, column in self.columns.items():
            _check_column(path, column, header is not None)
            if isinstance(column, int):
                label = header[column].strip() if header and column < len(header) else None
                resolved.append(_Column.of(path, column, label or f"column {column}"))
                continue
            found = by_name.get(column.strip().casefold(), [])
            if not found:
                raise CsvMappingError(path, f"no column {column!r} in the header")
            if len(found) > 1:
                raise CsvMappingError(path, f"column {column!r} appears {len(found)} times")
            resolved.append(_Column.of(path, found[0], column.strip()))
        return resolved


def _check_column(path: str, column: str | int, has_header: bool) -> None:
    if len(path) > 200:
        raise CsvMappingError(path[:50] + "...", "longer than 200 characters")
    # The mapping is stored as JSONB, which refuses \u0000: no control characters in it.
    if clean.has_controls(path) or (isinstance(column, str) and clean.has_controls(column)):
        raise CsvMappingError(clean.one_line(path), "contains control characters")
    if path not in FIELD_PATHS and not (
        path.startswith(_EXTENSION_PREFIX) and len(path) > len(_EXTENSION_PREFIX)
    ):
        raise CsvMappingError(path, "unknown field")
    if isinstance(column, int):
        if column < 0:
            raise CsvMappingError(path, "a column index is 0 or more")
    elif not column.strip():
        raise CsvMappingError(path, "empty column name")
    elif not has_header:
        raise CsvMappingError(path, "a column name needs a header row (has_header)")


@dataclass(frozen=True)
class _Column:
    path: str
    index: int
    label: str  # for error messages: the header name, or "column N"
    group: str | None  # nested object in LeadSubmission's input, or None
    key: str

    @classmethod
    def of(cls, path: str, index: int, label: str) -> _Column:
        group, dot, key = path.partition(".")
        if not dot:
            return cls(path, index, label, None, path)
        return cls(path, index, label, "trade_ins" if group == "trade_in" else group, key)


@dataclass(frozen=True)
class CsvRow:
    number: int  # record number in the file, 1-based, counting the header and skipped rows
    submission: LeadSubmission | None
    error: FieldError | None
    raw: dict[str, str]  # header name (or index as text) -> cell as written


async def read_rows(chunks: AsyncIterable[bytes], mapping: ColumnMapping) -> AsyncIterator[CsvRow]:
    """Rows of a CSV arriving in chunks of any size. Raises CsvMappingError at the header."""
    parser = _Parser(mapping)
    async for chunk in chunks:
        for row in parser.feed(chunk):
            yield row
    for row in parser.close():
        yield row


def iter_rows(chunks: Iterable[bytes], mapping: ColumnMapping) -> Iterator[CsvRow]:
    """The same, for a synchronous source."""
    parser = _Parser(mapping)
    for chunk in chunks:
        yield from parser.feed(chunk)
    yield from parser.close()


def rows_from_bytes(data: bytes, mapping: ColumnMapping, chunk_size: int = 1 << 16) -> list[CsvRow]:
    """All rows of an in-memory file, fed in `chunk_size` pieces (for tests and small files)."""
    chunks = (data[i : i + chunk_size] for i in range(0, len(data), chunk_size))
    return list(iter_rows(chunks, mapping))


class _Lines:
    """The `csv.reader`'s input: it is handed one complete record's lines at a time."""

    def __init__(self) -> None:
        self.queue: deque[str] = deque()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.queue:
            return self.queue.popleft()
        raise StopIteration  # the reader accepts more lines after this


class _Parser:
    def __init__(self, mapping: ColumnMapping) -> None:
        self._mapping = mapping
        encoding = codecs.lookup(mapping.encoding).name
        # utf-8-sig reads plain UTF-8 too, and drops a BOM if there is one.
        self._decoder = codecs.getincrementaldecoder(
            "utf-8-sig" if encoding == "utf-8" else encoding
        )(errors="strict")
        self._bytes = bytearray()
        self._skip_line = False  # dropping the rest of an over-long line
        self._started = False
        self._text_tail = ""  # decoded text after the last newline
        self._record: list[str] = []
        self._record_chars = 0
        self._in_quotes = False
        self._lines = _Lines()
        self._reader = csv.reader(
            self._lines, delimiter=mapping.delimiter, quotechar=_QUOTE, doublequote=True
        )
        self._number = 0
        self._header: list[str] | None = None
        self._columns: list[_Column] | None = None

    def feed(self, chunk: bytes) -> Iterator[CsvRow]:
        if self._skip_line:
            end = chunk.find(b"\n")
            if end < 0:
                return
            chunk, self._skip_line = chunk[end + 1 :], False
        self._bytes += chunk
        end = self._bytes.rfind(b"\n")
        if end < 0:
            if len(self._bytes) > MAX_RECORD_CHARS:
                self._bytes.clear()
                self._skip_line = True
                yield self._too_long()
            return
        block = bytes(self._bytes[: end + 1])
        del self._bytes[: end + 1]
        yield from self._text(self._decode(block))

    def close(self) -> Iterator[CsvRow]:
        text = self._decode(bytes(self._bytes), final=True)
        self._bytes.clear()
        yield from self._text(text)
        if self._text_tail:  # no final newline
            yield from self._line(self._text_tail)
            self._text_tail = ""
        if self._record:  # an unclosed quote at the end: the csv module keeps what it has
            self._lines.queue.extend(self._record)
            self._record.clear()
            yield from self._drain()

    def _decode(self, block: bytes, final: bool = False) -> str:
        try:
            return self._decoder.decode(block, final)
        except UnicodeError:  # idna and punycode raise the base class
            pass
        # Some line is not valid in the declared encoding: read that line as cp1252 instead
        # of failing the whole file (exports often mix in a Windows-1252 byte or two).
        self._decoder.reset()
        parts = block.split(b"\n")
        out: list[str] = []
        for i, part in enumerate(parts):
            line = part if i == len(parts) - 1 else part + b"\n"
            try:
                out.append(self._decoder.decode(line, final and i == len(parts) - 1))
            except UnicodeError:
                self._decoder.reset()
                out.append(line.decode(_FALLBACK_ENCODING, errors="replace"))
        return "".join(out)

    def _text(self, text: str) -> Iterator[CsvRow]:
        if not text:
            return
        if not self._started:  # a BOM the decoder kept (e.g. after a cp1252 fallback)
            text, self._started = text.removeprefix("\ufeff"), True
        lines = (self._text_tail + text).split("\n")
        self._text_tail = lines.pop()  # after the last newline ("" when text ends with one)
        for line in lines:
            yield from self._line(line + "\n")

    def _line(self, line: str) -> Iterator[CsvRow]:
        self._record.append(line)
        self._record_chars += len(line)
        self._in_quotes = _ends_quoted(line, self._in_quotes, self._mapping.delimiter)
        if not self._in_quotes:
            self._lines.queue.extend(self._record)
            self._record.clear()
            self._record_chars = 0
            yield from self._drain()
        elif self._record_chars > MAX_RECORD_CHARS:
            self._record.clear()
            self._record_chars = 0
            self._in_quotes = False
            yield self._too_long()

    def _drain(self) -> Iterator[CsvRow]:
        while self._lines.queue:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._number += 1
                yield CsvRow(self._number, None, FieldError("row", f"not valid CSV: {exc}"), {})
                continue
            self._number += 1
            row = self._row(cells)
            if row is not None:
                yield row

    def _too_long(self) -> CsvRow:
        self._number += 1
        reason = f"record longer than {MAX_RECORD_CHARS} characters (unclosed quote?)"
        return CsvRow(self._number, None, FieldError("row", reason), {})

    def _row(self, cells: list[str]) -> CsvRow | None:
        if not any(cell.strip() for cell in cells):
            return None  # blank, or only delimiters
        if self._columns is None:
            if self._mapping.has_header:  # the first non-empty row
                self._header = [cell.strip() for cell in cells]
                self._columns = self._mapping.resolve(self._header)
                return None
            self._columns = self._mapping.resolve(None)
        raw = _raw(cells, self._header)
        submission, error = _submission(cells, self._columns, self._mapping.date_format)
        return CsvRow(self._number, submission, error, raw)


def _ends_quoted(line: str, in_quotes: bool, delimiter: str) -> bool:
    """Whether `line` ends inside a quoted field, by the csv module's own (non-strict) rules.

    A field is quoted only if it opens with a quote; `""` inside is a quote; after the closing
    quote the rest of the field is literal. Quotes elsewhere (`6'6" box`) are plain characters.
    """
    if not in_quotes and _QUOTE not in line:
        return False
    pos = 0
    while True:
        if in_quotes:
            quote = line.find(_QUOTE, pos)
            if quote < 0:
                return True
            if line.startswith(_QUOTE, quote + 1):
                pos = quote + 2
                continue
            in_quotes = False
            pos = line.find(delimiter, quote + 1)
            if pos < 0:
                return False
            pos += 1
        if line.startswith(_QUOTE, pos):
            in_quotes = True
            pos += 1
            continue
        pos = line.find(delimiter, pos)
        if pos < 0:
            return False
        pos += 1


def _raw(cells: list[str], header: list[str] | None) -> dict[str, str]:
    if header is None:
        return {str(i): cell for i, cell in enumerate(cells)}
    raw = dict(zip(header, cells, strict=False))
    if len(raw) < len(cells):  # blank or repeated header names, or more cells than names
        for i, cell in enumerate(cells):
            name = header[i] if i < len(header) else ""
            if not name or raw.get(name) is not cell:
                raw[str(i)] = cell
    return raw


def _submission(
    cells: list[str], columns: list[_Column], date_format: str | None
) -> tuple[LeadSubmission | None, FieldError | None]:
    data: dict[str, Any] = {}
    for column in columns:
        value = cells[column.index].strip() if column.index < len(cells) else ""
        if not value:
            continue
        group, key = column.group, column.key
        if group is None:
            if key == "requested_at":
                try:
                    data[key] = _parse_datetime(value, date_format)
                except ValueError as exc:
                    return None, FieldError(key, f"column {column.label!r}: {exc}")
            elif key == "other_phones":
                data[key] = [p.strip() for p in _OTHER_PHONES_SPLIT.split(value) if p.strip()]
            else:
                data[key] = value
        elif group == "trade_ins":
            data.setdefault(group, [{}])[0][key] = value
        else:
            data.setdefault(group, {})[key] = value
    try:
        return LeadSubmission.model_validate(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"] if part != 0]
        path = ".".join(loc).replace("trade_ins.", "trade_in.", 1)
        label = next((c.label for c in columns if c.path == path), None)
        where = f"column {label!r}: " if label else ""
        return None, FieldError(path or "row", f"{where}{first['msg']}")


def _parse_datetime(value: str, date_format: str | None) -> datetime:
    """Naive results stay naive: the normaliser decides which zone to assume."""
    if len(value) > _MAX_DATE_CHARS:  # a cell may be 1 MiB: no parser sees that much
        raise ValueError(f"longer than {_MAX_DATE_CHARS} characters")
    if date_format:
        try:
            return datetime.strptime(value, date_format)
        except ValueError:
            raise ValueError(f"not a date in the format {date_format!r}") from None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    match = _US_DATETIME.fullmatch(value)
    if match is None:
        raise ValueError("not a date (ISO 8601 or MM/DD/YYYY HH:MM)")
    hour = int(match["H"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise ValueError("hour out of range for AM/PM")
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    try:
        return datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            hour,
            int(match["M"] or 0),
            int(match["S"] or 0),
        )
    except ValueError as exc:
        raise ValueError(f"not a date: {exc}") from None

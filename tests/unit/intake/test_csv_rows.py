from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from intake.adapters import csv_rows
from intake.adapters.csv_rows import (
    ColumnMapping,
    CsvMappingError,
    CsvRow,
    iter_rows,
    read_rows,
    rows_from_bytes,
)
from intake.domain.model import FieldError
from tests.paths import OTHER_DIR, needs_fixtures

DESKLOG = OTHER_DIR / "crm_desklog_vinsolutions_style_used_01.csv"
DESKLOG_NO_HEADER = OTHER_DIR / "crm_desklog_no_header_row_02.csv"
COX = OTHER_DIR / "crm_cox_vinsolutions_lead_source_report_03.csv"
DEALERSOCKET = OTHER_DIR / "crm_dealersocket_group_report_04.csv"

DESKLOG_MAPPING = ColumnMapping(
    columns={
        "channel": "Lead Source",
        "lead_type": " lead type ",  # names match trimmed and case-insensitively
        "vehicle.year": "Year",
        "vehicle.make": "Make",
        "vehicle.model": "Model",
        "requested_at": "Lead Origination Date",
    }
)
CONTACT_MAPPING = ColumnMapping(
    columns={"first_name": "first_name", "email": "email", "comments": "comments"}
)


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read_all(data: bytes, mapping: ColumnMapping, size: int = 1 << 16) -> list[CsvRow]:
    return [row async for row in read_rows(chunked(data, size), mapping)]


def names(rows: Iterable[CsvRow]) -> list[str | None]:
    return [r.submission.first_name if r.submission else None for r in rows]


# --- the real exports --------------------------------------------------------------------------


@needs_fixtures
async def test_vinsolutions_desk_log_with_a_header_mapping() -> None:
    rows = await read_all(DESKLOG.read_bytes(), DESKLOG_MAPPING)

    assert len(rows) == 126  # 127 lines, the first is the header
    assert [r.number for r in rows] == list(range(2, 128))
    assert all(r.error is None for r in rows)
    first, carfax, empty_vehicle = rows[0], rows[1], rows[2]
    assert first.submission is not None
    assert first.submission.requested_at == datetime(2025, 7, 1, 18, 44)  # "07/01/2025 18:44 tt"
    assert first.submission.lead_type == "Internet"
    assert first.raw["Lead Origination Date"] == "07/01/2025 18:44 tt"
    assert carfax.submission is not None and carfax.submission.channel == "Carfax, Inc"
    assert carfax.submission.vehicle is not None
    assert (carfax.submission.vehicle.year, carfax.submission.vehicle.model) == (
        "2018",
        "Grand Cherokee",
    )
    # "Carfax, Inc",Internet,Lost,,,,07/02/2025 10:30 tt: no vehicle columns filled
    assert empty_vehicle.submission is not None and empty_vehicle.submission.vehicle is None
    channels = {r.submission.channel for r in rows if r.submission}
    assert {"Truecar/Perkspot", "Carfax, Inc"} <= channels


@needs_fixtures
async def test_desk_log_without_a_header_mapped_by_index() -> None:
    mapping = ColumnMapping(
        has_header=False,
        columns={
            "channel": 0,
            "lead_type": 1,
            "vehicle.year": 3,
            "vehicle.make": 4,
            "vehicle.model": 5,
            "requested_at": 6,
        },
    )
    rows = await read_all(DESKLOG_NO_HEADER.read_bytes(), mapping)

    assert [r.number for r in rows] == list(range(1, 38))
    sub = rows[0].submission
    assert sub is not None and sub.vehicle is not None
    assert sub.channel == "Stellantis Digital Third Party"
    assert (sub.vehicle.year, sub.vehicle.make, sub.vehicle.model) == (
        "2025",
        "Jeep",
        "Grand Cherokee",
    )
    assert sub.requested_at == datetime(2025, 7, 3, 5, 31)
    assert rows[0].raw["0"] == "Stellantis Digital Third Party"


@needs_fixtures
async def test_cox_report_skips_its_comma_only_first_row() -> None:
    mapping = ColumnMapping(columns={"channel": "Lead Source", "campaign": "Total Gross"})
    rows = await read_all(COX.read_bytes(), mapping)

    assert len(rows) == 28
    assert rows[0].number == 3  # row 1: commas only, row 2: the header
    assert rows[0].submission is not None
    assert rows[0].submission.channel == "ARONSON ADVERTISING"
    channels = [r.submission.channel for r in rows if r.submission]
    assert (
        "Chrysler, Dodge, Jeep &Amp; Ram Parts For Sale In Danville, Il - Dealer.Com Website"
        in channels
    )
    assert channels[-1] == "TOTAL"  # not a lead: the normaliser rejects it (no contact)
    assert rows[1].raw["Total Gross"] == "$7,512.36"


@needs_fixtures
async def test_dealersocket_super_header_by_index_passes_header_rows_through() -> None:
    # Two header rows: map by index without a header; the header rows become rows the
    # normaliser rejects (no contact), which is acceptable for a report like this.
    mapping = ColumnMapping(has_header=False, columns={"channel": 0, "campaign": 1})
    rows = await read_all(DEALERSOCKET.read_bytes(), mapping)
    assert len(rows) == 47
    assert [r.submission.channel if r.submission else "?" for r in rows[:3]] == [
        None,
        "Group",
        "<No Source>",
    ]


# --- chunking and decoding ---------------------------------------------------------------------

TRICKY = (
    "first_name,email,comments\r\n"
    'Zoë,zoe@example.com,"Price, please.\nAnd a ""test drive"" — Friday?"\r\n'
    "José,jose@example.com,Ram 1500 6'6\" box\r\n"
    '"Renée",renee@example.com,"multi\n\nline, with € and 😀"\r\n'
    "Last,last@example.com,no final newline"
).encode()


async def test_one_byte_chunks_split_quoted_fields_and_multibyte_characters() -> None:
    whole = await read_all(TRICKY, CONTACT_MAPPING)
    one_byte = await read_all(TRICKY, CONTACT_MAPPING, size=1)

    assert one_byte == whole
    assert names(whole) == ["Zoë", "José", "Renée", "Last"]
    comments = [r.submission.comments for r in whole if r.submission]
    assert comments == [
        'Price, please.\nAnd a "test drive" — Friday?',
        "Ram 1500 6'6\" box",  # a quote inside an unquoted field is just a character
        "multi\n\nline, with € and 😀",
        "no final newline",
    ]
    # Numbered by record, as a spreadsheet would show them.
    assert [r.number for r in whole] == [2, 3, 4, 5]


def test_sync_reader_gives_the_same_rows() -> None:
    assert rows_from_bytes(TRICKY, CONTACT_MAPPING, chunk_size=3) == rows_from_bytes(
        TRICKY, CONTACT_MAPPING
    )
    assert list(iter_rows([TRICKY], CONTACT_MAPPING)) == rows_from_bytes(TRICKY, CONTACT_MAPPING)


def test_a_cp1252_byte_falls_back_for_that_row_only() -> None:
    data = b"first_name,email\nJos\xe9,jose@example.com\nZo\xc3\xab,zoe@example.com\n"
    mapping = ColumnMapping(columns={"first_name": "first_name", "email": "email"})
    rows = rows_from_bytes(data, mapping, chunk_size=5)
    assert names(rows) == ["José", "Zoë"]
    assert all(r.error is None for r in rows)


def test_utf8_bom_and_declared_cp1252_and_semicolons() -> None:
    bom = b"\xef\xbb\xbfFirst_Name,Email\nAnn,ann@example.com\n"
    assert names(rows_from_bytes(bom, CONTACT_MAPPING.model_copy(update={"columns": {
        "first_name": "first_name", "email": "email"}}))) == ["Ann"]  # fmt: skip

    mapping = ColumnMapping(columns={"first_name": "Prénom"}, delimiter=";", encoding="cp1252")
    assert names(rows_from_bytes(b"Pr\xe9nom;x\nC\xe9line;1\n", mapping)) == ["Céline"]


def test_unclosed_quote_at_the_end_keeps_what_is_there() -> None:
    mapping = ColumnMapping(columns={"first_name": "first_name", "comments": "comments"})
    rows = rows_from_bytes(b'first_name,comments\nAnn,"never closed\nstill going', mapping)
    assert len(rows) == 1
    assert rows[0].submission is not None
    assert rows[0].submission.comments == "never closed\nstill going"


def test_a_runaway_quote_is_reported_and_reading_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_rows, "MAX_RECORD_CHARS", 100)
    mapping = ColumnMapping(columns={"first_name": "first_name", "comments": "comments"})
    runaway = b'first_name,comments\nAnn,"opened\n' + b"x" * 60 + b"\n" + b"y" * 60 + b"\n"
    long_line = b"z" * 300 + b"\n"
    rows = rows_from_bytes(runaway + long_line + b"Bob,fine\n", mapping, chunk_size=16)
    errors = [(r.number, r.error.field) for r in rows if r.error]
    assert errors == [(2, "row"), (3, "row")]
    assert names(rows)[-1] == "Bob"


# --- mapping errors and bad rows ---------------------------------------------------------------


@needs_fixtures
async def test_a_header_missing_from_the_file_is_a_mapping_error() -> None:
    mapping = ColumnMapping(columns={"channel": "Lead Source", "email": "E-mail"})
    with pytest.raises(CsvMappingError) as caught:
        await read_all(DESKLOG.read_bytes(), mapping)
    assert caught.value.field == "email"
    assert "E-mail" in caught.value.reason


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"columns": {"vehicle.colour": "Colour"}}, "vehicle.colour"),
        ({"columns": {"lead_source": 0}}, "lead_source"),
        ({"columns": {"email": -1}}, "email"),
        ({"has_header": False, "columns": {"email": "Email"}}, "email"),
        ({"columns": {}, "delimiter": ";;"}, "delimiter"),
        ({"columns": {}, "encoding": "klingon"}, "encoding"),
        # Codecs, but not bytes to text: they failed mid-read (a 500) before.
        ({"columns": {}, "encoding": "rot_13"}, "encoding"),
        ({"columns": {}, "encoding": "zlib_codec"}, "encoding"),
        ({"columns": {}, "encoding": "base64_codec"}, "encoding"),
        ({"columns": {}, "encoding": "hex_codec"}, "encoding"),
        ({"columns": {}, "encoding": "punycode"}, "encoding"),
    ],
)
def test_bad_mappings_are_refused_at_construction(mapping: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ColumnMapping.model_validate(mapping)
    error = caught.value.errors()[0]["ctx"]["error"]
    assert isinstance(error, CsvMappingError) and error.field == field


@needs_fixtures
def test_a_mapping_without_contact_columns_is_allowed() -> None:
    mapping = ColumnMapping(columns={"channel": "Lead Source", "extensions.status": 2})
    rows = rows_from_bytes(DESKLOG.read_bytes(), mapping)
    assert rows[0].submission is not None
    assert rows[0].submission.extensions == {"status": "Lost"}


def test_a_bad_row_gives_an_error_and_the_file_goes_on() -> None:
    mapping = ColumnMapping(
        columns={"first_name": "name", "consent.email": "opt in", "requested_at": "when"}
    )
    data = (
        b"name,opt in,when\n"
        b"Ann,yes,2026-03-14T19:58:06+00:00\n"
        b"Bob,maybe,\n"
        b"Cat,,13/45/2025 10:00\n"
        b"Dan,0,07/01/2025 06:05 PM\n"
    )
    rows = rows_from_bytes(data, mapping)

    assert [r.number for r in rows] == [2, 3, 4, 5]
    ann, bob, cat, dan = rows
    assert ann.submission is not None and ann.submission.consent.email is True
    assert ann.submission.requested_at == datetime(2026, 3, 14, 19, 58, 6, tzinfo=UTC)
    assert bob.submission is None and bob.error is not None
    assert bob.error.field == "consent.email" and "'opt in'" in bob.error.reason
    assert bob.raw == {"name": "Bob", "opt in": "maybe", "when": ""}
    assert cat.submission is None
    assert cat.error is not None and cat.error.field == "requested_at"
    assert dan.submission is not None and dan.submission.consent.email is False
    assert dan.submission.requested_at == datetime(2025, 7, 1, 18, 5)


def test_date_format_trade_in_and_other_phones() -> None:
    mapping = ColumnMapping(
        has_header=False,
        date_format="%d.%m.%Y %H:%M",
        columns={"requested_at": 0, "other_phones": 1, "trade_in.make": 2, "trade_in.year": 3},
    )
    rows = rows_from_bytes(b"14.03.2026 09:30,519-555-0158; 438 555 0108,Ford,2011\n", mapping)
    sub = rows[0].submission
    assert sub is not None
    assert sub.requested_at == datetime(2026, 3, 14, 9, 30)
    assert sub.other_phones == ["519-555-0158", "438 555 0108"]
    assert [(t.make, t.year) for t in sub.trade_ins] == [("Ford", "2011")]
    bad = rows_from_bytes(b"2026-03-14,,,\n", mapping)[0]
    assert bad.error == FieldError("requested_at", "column 'column 0': not a date in the format "
                                   "'%d.%m.%Y %H:%M'")  # fmt: skip


def test_blank_lines_and_delimiter_only_rows_are_skipped_but_counted() -> None:
    data = b"\n,,\nfirst_name,email,comments\n\n , ,\nAnn,ann@example.com,\n"
    rows = rows_from_bytes(data, CONTACT_MAPPING)
    assert [(r.number, names([r])[0]) for r in rows] == [(6, "Ann")]


# --- memory ------------------------------------------------------------------------------------


async def generated_csv(rows: int, per_chunk: int = 500) -> AsyncIterator[bytes]:
    yield b"first_name,last_name,email,phone,comments,vehicle\n"
    for start in range(0, rows, per_chunk):
        yield "".join(
            f'Fakey{i},Doe,fakey{i}@example.com,519555{i % 10000:04d},"Hello, is it '
            f'available?\nThanks",Ram 1500\n'
            for i in range(start, min(start + per_chunk, rows))
        ).encode()


async def test_two_hundred_thousand_rows_stream_in_flat_memory() -> None:
    mapping = ColumnMapping(
        columns={"first_name": "first_name", "email": "email", "phone": "phone",
                 "comments": "comments", "vehicle.model": "vehicle"}
    )  # fmt: skip
    count = 0
    tracemalloc.start()
    try:
        async for row in read_rows(generated_csv(200_000), mapping):
            assert row.error is None
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"

"""What reaches the normaliser from any way in: no control characters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from intake.adapters.adf import parse_adf
from intake.adapters.csv_rows import ColumnMapping, rows_from_bytes
from intake.domain.submission import LeadSubmission


def test_control_characters_are_removed_from_every_text_field() -> None:
    sub = LeadSubmission.model_validate_json(
        b'{"first_name": "An\\u0000n", "last_name": "R\\u0007oe\\u009f",'
        b' "full_name": "Ann\\tRoe", "email": "ann\\u0000@example.com",'
        b' "phone": "519\\u0000555\\u00000123", "other_phones": ["+1 519 555 0124\\u001b"],'
        b' "source_lead_id": "L\\u0000-1", "campaign": "spring\\r\\nsale",'
        b' "comments": "Line one\\u0000\\n\\tLine two\\u007f",'
        b' "vehicle": {"make": "\\u0000Volvo", "year": "20\\u000024", "comments": "a\\u0000\\nb"},'
        b' "trade_ins": [{"model": "XC\\u000060"}],'
        b' "extensions": {"k\\u0000ey": ["v\\u0000", {"n\\u0001": "x\\u0002"}], "n": 3}}'
    )
    assert sub.first_name == "Ann"
    assert sub.last_name == "Roe"
    assert sub.full_name == "Ann Roe"  # a tab in a one-line field is a space
    assert sub.email == "ann@example.com"
    assert sub.phone == "5195550123"
    assert sub.other_phones == ["+1 519 555 0124"]
    assert sub.source_lead_id == "L-1"
    assert sub.campaign == "spring  sale"
    assert sub.comments == "Line one\n\tLine two"  # free text keeps line breaks and tabs
    assert sub.vehicle is not None
    assert (sub.vehicle.make, sub.vehicle.year, sub.vehicle.comments) == ("Volvo", "2024", "a\nb")
    assert sub.trade_ins[0].model == "XC60"
    assert sub.extensions == {"key": ["v", {"n": "x"}], "n": 3}


def test_a_csv_row_with_a_nul_byte_is_read_without_it() -> None:
    mapping = ColumnMapping(columns={"first_name": "name", "email": "email"})
    [row] = rows_from_bytes(b"name,email\nA\x00nn,ann@exa\x00mple.com\n", mapping)
    assert row.submission is not None
    assert (row.submission.first_name, row.submission.email) == ("Ann", "ann@example.com")


def test_an_adf_prospect_with_control_characters_is_read_without_them() -> None:
    body = (
        b"<adf><prospect><customer><contact><name part='full'>Ann &#x85;Roe</name>"
        b"<email>ann@example.com</email></contact><comments>hi&#x9;there&#xA;bye</comments>"
        b"</customer></prospect></adf>"
    )
    [sub] = parse_adf(body)
    assert sub.full_name == "Ann Roe"
    assert sub.comments == "hi\tthere\nbye"


@pytest.mark.parametrize(
    "mapping",
    [
        {"columns": {"email": "E\x00mail"}},
        {"columns": {"email": "Email"}, "delimiter": "\x00"},
        {"columns": {"email": "Email"}, "date_format": "%Y\x00"},
    ],
)
def test_a_csv_mapping_with_control_characters_is_refused(mapping: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="control character"):
        ColumnMapping.model_validate(mapping)


def test_a_tab_delimiter_is_still_allowed() -> None:
    mapping = ColumnMapping(columns={"email": "email"}, delimiter="\t")
    [row] = rows_from_bytes(b"x\temail\n1\tann@example.com\n", mapping)
    assert row.submission is not None and row.submission.email == "ann@example.com"

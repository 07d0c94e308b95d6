"""What reaches the normaliser from any way in: no control characters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from intake.adapters.adf import AdfError, parse_adf
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


# --- caps ---------------------------------------------------------------------------------------

CAPS = {
    ("first_name",): 200,
    ("last_name",): 200,
    ("full_name",): 200,
    ("email",): 320,
    ("phone",): 64,
    ("dealership_id",): 200,
    ("source_lead_id",): 200,
    ("campaign",): 200,
    ("channel",): 200,
    ("lead_type",): 200,
    ("provider",): 200,
    ("comments",): 10_000,
    **{("vehicle", name): 100 for name in ("year", "make", "model", "trim", "vin", "stock")},
    **{("vehicle", name): 100 for name in ("condition", "price", "currency", "odometer")},
    ("vehicle", "odometer_units"): 100,
    ("vehicle", "interest"): 100,
    ("vehicle", "comments"): 10_000,
}


def _with(path: tuple[str, ...], value: object) -> dict[str, object]:
    return {path[0]: {path[1]: value}} if len(path) == 2 else {path[0]: value}


@pytest.mark.parametrize(("path", "cap"), CAPS.items(), ids=[".".join(p) for p in CAPS])
def test_every_text_field_has_a_cap_named_in_the_error(path: tuple[str, ...], cap: int) -> None:
    LeadSubmission.model_validate(_with(path, "x" * cap))
    with pytest.raises(ValidationError) as caught:
        LeadSubmission.model_validate(_with(path, "x" * (cap + 1)))
    [error] = caught.value.errors()
    assert error["loc"] == path
    assert f"at most {cap} characters" in error["msg"]


def test_a_trade_in_field_has_the_vehicle_cap() -> None:
    with pytest.raises(ValidationError) as caught:
        LeadSubmission.model_validate({"trade_ins": [{}, {"make": "x" * 101}]})
    assert caught.value.errors()[0]["loc"] == ("trade_ins", 1, "make")


@pytest.mark.parametrize(
    ("field", "item", "most"),
    [("other_phones", "+15195550123", 20), ("trade_ins", {"make": "Ford"}, 10)],
)
def test_lists_have_a_maximum_length(field: str, item: object, most: int) -> None:
    LeadSubmission.model_validate({field: [item] * most})
    with pytest.raises(ValidationError) as caught:
        LeadSubmission.model_validate({field: [item] * 10_000})
    [error] = caught.value.errors()
    assert error["loc"] == (field,)
    assert f"at most {most} items" in error["msg"]
    with pytest.raises(ValidationError):
        LeadSubmission.model_validate({"other_phones": ["1" * 65]})


@pytest.mark.parametrize(
    ("extensions", "reason"),
    [
        ({"a": {"b": "x" * 10_001}}, "extensions.a.b: longer than 10000 characters"),
        ({"a": list(range(101))}, "extensions.a: more than 100 entries"),
        ({str(i): i for i in range(101)}, "extensions: more than 100 entries"),
        ({"k" * 201: 1}, "extensions: a key longer than 200 characters"),
        ({"a": [[[[[[[[[["deep"]]]]]]]]]]}, "nested deeper than 10 levels"),
    ],
)
def test_extensions_are_bounded(extensions: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LeadSubmission.model_validate({"extensions": extensions})
    [error] = caught.value.errors()
    assert error["loc"] == ("extensions",)
    assert reason in error["msg"]


def test_an_adf_value_over_its_cap_names_the_prospect_and_field() -> None:
    one = (
        b"<prospect><customer><contact><name part='first'>%s</name></contact></customer></prospect>"
    )
    with pytest.raises(AdfError) as caught:
        parse_adf(b"<adf>" + one % b"Ann" + one % (b"x" * 201) + b"</adf>")
    assert caught.value.field == "prospect[1].first_name"
    assert "at most 200 characters" in caught.value.reason
    with pytest.raises(AdfError) as caught:
        parse_adf(b"<adf>" + one % (b"x" * 201) + b"</adf>")
    assert caught.value.field == "first_name"


def test_a_csv_cell_over_its_cap_is_a_bad_row_naming_the_column() -> None:
    mapping = ColumnMapping(columns={"first_name": "name", "email": "email"})
    good, bad = rows_from_bytes(
        b"name,email\nAnn,ann@example.com\n" + b"x" * 201 + b",bob@example.com\n", mapping
    )
    assert good.submission is not None
    assert bad.submission is None and bad.error is not None
    assert bad.error.field == "first_name"
    assert "'name'" in bad.error.reason and "at most 200 characters" in bad.error.reason


def test_a_csv_date_over_its_cap_is_a_bad_row() -> None:
    mapping = ColumnMapping(columns={"requested_at": "when", "email": "email"})
    [row] = rows_from_bytes(b"when,email\n2026-03-14" + b"0" * 200 + b",a@example.com\n", mapping)
    assert row.error is not None and row.error.field == "requested_at"
    assert "longer than 100 characters" in row.error.reason


def test_a_csv_mapping_is_bounded() -> None:
    with pytest.raises(ValidationError):
        ColumnMapping.model_validate({"columns": {f"extensions.k{i}": i for i in range(201)}})
    with pytest.raises(ValidationError):
        ColumnMapping.model_validate({"columns": {"email": "E" * 201}})

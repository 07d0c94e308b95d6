"""Who an erasure request names, and how the person is found in payloads kept as received."""

from __future__ import annotations

import re

import pytest

from intake.domain.erasure import AmbiguousPhone, mask_lines, person
from shared.contracts import contact_hash


def test_contacts_are_read_as_intake_stores_them() -> None:
    who = person(" Ann.Roe@Example.COM ", "(519) 555-0142", ["CA", "FR"])
    assert who.emails == ("ann.roe@example.com",)
    assert who.phones == ("+15195550142",)  # not a valid French number: read for Canada only
    assert who.hashes == tuple(
        sorted(
            [contact_hash("email", "ann.roe@example.com"), contact_hash("phone", "+15195550142")]
        )
    )


def test_a_phone_valid_in_two_of_the_tenant_s_countries_needs_its_country_code() -> None:
    with pytest.raises(AmbiguousPhone):
        person(None, "(519) 555-0142", ["CA", "DE"])  # +49 519 5550142 is valid too
    assert person(None, "+1 519 555 0142", ["CA", "DE"]).phones == ("+15195550142",)


def test_values_that_are_no_contact_are_not_searched_for() -> None:
    # "555" or "nobody" typed by mistake would otherwise blank every payload holding them.
    who = person("nobody", "555", ["CA"])
    assert who.empty
    assert who.typed == ()
    assert who.phone_patterns() == ()


def test_a_phone_is_found_however_it_was_typed_and_never_inside_longer_digits() -> None:
    [pattern] = person(None, "+15195550142", ["CA"]).phone_patterns()
    found = re.compile(pattern)
    for typed in (
        "(519) 555-0142",
        "519.555.0142",
        "+1 519 555 0142",
        "15195550142",
        "x5195550142,",
    ):
        assert found.search(typed), typed
    for other in ("5195550143", "25195550142", "51955501420", "519 555 01 4"):
        assert not found.search(other), other


def test_a_csv_file_loses_the_person_s_lines_and_keeps_its_shape() -> None:
    who = person("ann@example.com", "+15195550142", ["CA"])
    data = (
        b"Name,Email,Phone\r\n"
        b'"Roe, Ann",ANN@example.com,\r\n'
        b"Bob Poe,bob@example.com,519-555-0199\r\n"
        b"A. R.,,(519) 555-0142\r\n"
    )
    masked, lines = mask_lines(data, who.emails + who.typed, who.phone_patterns())
    assert lines == 2
    assert len(masked) == len(data)
    rows = masked.split(b"\r\n")
    assert rows[0] == b"Name,Email,Phone"
    assert rows[1] == b'"xxx,xxxx",xxxxxxxxxxxxxxx,'
    assert rows[2] == b"Bob Poe,bob@example.com,519-555-0199"
    assert rows[3] == b"xxxxx,,xxxxxxxxxxxxxx"

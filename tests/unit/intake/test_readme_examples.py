"""The README's samples (docs/examples/) are in the repository and read as the README says."""

from __future__ import annotations

import re

from intake.adapters.adf import parse_adf
from intake.adapters.csv_rows import ColumnMapping, rows_from_bytes
from tests.paths import EXAMPLES, REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_file_the_readme_sends_is_shipped() -> None:
    sent = re.findall(r"--data-binary @(\S+)", README)
    assert sent, "the README sends no file"
    for path in sent:
        assert (REPO_ROOT / path).is_file(), path
        assert (REPO_ROOT / path).parent == EXAMPLES


def test_the_adf_sample_is_one_lead_with_contacts() -> None:
    [lead] = parse_adf((EXAMPLES / "lead.adf.xml").read_bytes())
    assert (lead.first_name, lead.last_name) == ("Mia", "Lund")
    assert lead.email == "mia.lund@example.com"
    assert lead.vehicle is not None and lead.vehicle.model == "XC60"


def test_the_csv_sample_reads_with_the_readme_mapping() -> None:
    [mapping] = re.findall(r"mapping=(\{.*\})'", README)
    data = (EXAMPLES / "leads.csv").read_bytes()
    rows = rows_from_bytes(data, ColumnMapping.model_validate_json(mapping))
    assert [r.error for r in rows] == [None, None, None]
    people = [r.submission for r in rows if r.submission is not None]
    assert [p.full_name for p in people] == ["Noah Berg", "Lena Vogt", "Omar Haddad"]
    assert all(p.email or p.phone for p in people)

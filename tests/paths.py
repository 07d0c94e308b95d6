"""Where tests find things outside the repo: the shared lead fixtures live beside it, not in it.

Without them (a fresh clone on its own), the tests that read them are skipped with a message
saying where they were looked for; every other test runs. CI has them and requires them.
"""

import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("FORECOURT_FIXTURES_DIR", REPO_ROOT.parent / "shared" / "fixtures"))
LEADS = FIXTURES / "leads"
ADF_DIR = LEADS / "adf"
OTHER_DIR = LEADS / "other"
EXAMPLES = REPO_ROOT / "docs" / "examples"  # the README's samples, shipped in the repo

HAVE_FIXTURES = ADF_DIR.is_dir() and OTHER_DIR.is_dir()
MISSING_FIXTURES = (
    f"lead fixtures not found at {LEADS}: set FORECOURT_FIXTURES_DIR (the directory holding "
    "leads/adf and leads/other) or put them at ../shared/fixtures"
)

# For a test that reads the fixtures.
needs_fixtures = pytest.mark.skipif(not HAVE_FIXTURES, reason=MISSING_FIXTURES)


def fixture_files(directory: Path, pattern: str = "*") -> list[Any]:
    """The fixture files for `pytest.mark.parametrize`, read at collection: one skipped
    parameter (not a collection error) when the fixtures are absent."""
    if not HAVE_FIXTURES:
        return [pytest.param(None, id="fixtures-missing", marks=needs_fixtures)]
    return sorted(p for p in directory.glob(pattern) if p.is_file())

"""Where tests find things outside the repo: the shared lead fixtures live beside it, not in it."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("FORECOURT_FIXTURES_DIR", REPO_ROOT.parent / "shared" / "fixtures"))
LEADS = FIXTURES / "leads"
ADF_DIR = LEADS / "adf"
OTHER_DIR = LEADS / "other"

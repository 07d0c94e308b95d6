"""The committed JSON-Schema snapshots are the models: a wire change without one fails here.

An additive change (a new optional field) is regenerated with
`uv run python -m shared.contracts.snapshot`; a breaking change needs a new event version.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.contracts.snapshot import SCHEMA_DIR, diff_snapshots, main, write_snapshots


def test_committed_snapshots_match_the_models() -> None:
    assert diff_snapshots(SCHEMA_DIR) == [], "run `uv run python -m shared.contracts.snapshot`"


def test_snapshot_pins_event_type_and_version() -> None:
    schema = json.loads((SCHEMA_DIR / "lead.ingested.v1.json").read_text())
    assert schema["properties"]["event_type"]["const"] == "lead.ingested"
    assert schema["properties"]["event_version"]["const"] == 1
    assert schema["$defs"]["LeadIngestedV1"]["required"][0] == "sequence"


def test_check_reports_missing_changed_and_stale(tmp_path: Path) -> None:
    write_snapshots(tmp_path)
    assert main(["--check", "--dir", str(tmp_path)]) == 0

    ingested = tmp_path / "lead.ingested.v1.json"
    schema = json.loads(ingested.read_text())
    del schema["$defs"]["LeadIngestedV1"]["properties"]["comments"]  # as if a field was removed
    ingested.write_text(json.dumps(schema))
    (tmp_path / "lead.dead.v1.json").unlink()
    (tmp_path / "lead.ingested.v0.json").write_text("{}")

    assert diff_snapshots(tmp_path) == [
        "missing: lead.dead.v1.json",
        "stale (no such event): lead.ingested.v0.json",
        "changed: lead.ingested.v1.json",
    ]
    assert main(["--check", "--dir", str(tmp_path)]) == 1

    assert main(["--dir", str(tmp_path)]) == 0
    assert diff_snapshots(tmp_path) == []

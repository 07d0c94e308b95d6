"""JSON-Schema snapshots of every registered envelope, committed beside the models.

A contract test compares them with the models, so no wire change slips through unreviewed:
an additive change is regenerated (`python -m shared.contracts.snapshot`); a breaking one
needs a new version instead. `--check` only compares and exits 1 listing what differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.contracts.base import EventPayload
from shared.contracts.envelope import envelope_type
from shared.contracts.registry import REGISTRY

SCHEMA_DIR = Path(__file__).parent / "schemas"


def render_schema(payload_class: type[EventPayload]) -> str:
    schema = envelope_type(payload_class).model_json_schema(mode="serialization")
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def expected_snapshots() -> dict[str, str]:
    """File name (`lead.ingested.v1.json`) to its content, for every registered event."""
    return {f"{cls.routing_key()}.json": render_schema(cls) for cls in REGISTRY.values()}


def diff_snapshots(directory: Path = SCHEMA_DIR) -> list[str]:
    """What differs between the snapshot files and the models; empty when they agree."""
    expected = expected_snapshots()
    present = {p.name: p for p in directory.glob("*.json")} if directory.is_dir() else {}
    problems = [f"missing: {name}" for name in sorted(expected.keys() - present.keys())]
    problems += [f"stale (no such event): {name}" for name in sorted(present.keys() - expected)]
    problems += [
        f"changed: {name}"
        for name in sorted(expected.keys() & present.keys())
        if present[name].read_text(encoding="utf-8") != expected[name]
    ]
    return problems


def write_snapshots(directory: Path = SCHEMA_DIR) -> list[str]:
    """Make the directory match the models; returns what was written or removed."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_snapshots()
    done = []
    for path in sorted(directory.glob("*.json")):
        if path.name not in expected:
            path.unlink()
            done.append(f"removed {path.name}")
    for name, content in expected.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            done.append(f"wrote {name}")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.contracts.snapshot")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on any diff")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="snapshot directory")
    args = parser.parse_args(argv)
    if args.check:
        problems = diff_snapshots(args.dir)
        for line in problems:
            print(line)
        if problems:
            print("run `python -m shared.contracts.snapshot` after reviewing the change")
        return 1 if problems else 0
    for line in write_snapshots(args.dir):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

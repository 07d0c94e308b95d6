"""The repository the harness runs from: its services' catalogue and the benchmarks' helpers.

`scripts/` and `bench/` are folders of the repository, not installed packages; the harness is
a workspace member installed in editable mode, so the repository root is three folders above
this package, and goes on `sys.path` once for the imports below.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def importable() -> Path:
    """Put the repository root on `sys.path` (for `scripts.catalogue`, `bench.*`)."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return ROOT


importable()

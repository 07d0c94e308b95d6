"""Signals in the services' own logs that the accounting cannot see: deadlocks PostgreSQL broke,
replicas that failed to start, errors. Counted per service over every replica's log."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

SIGNALS = {
    # asyncpg's own line: once per deadlock (SQLAlchemy's wrappers repeat the message).
    "deadlock detected": re.compile(r"DeadlockDetectedError: deadlock detected"),
    "startup failed": re.compile(r"Application startup failed"),
    "relay stopped, its service gone": re.compile(r"the service went away; the relay stops"),
    "ERROR lines": re.compile(r"^\S+ \S+ ERROR |^ERROR:"),
}


def signals(folder: Path) -> dict[str, dict[str, int]]:
    """{service: {signal: count}} over `<service>-<replica>-<start>.log` files."""
    out: dict[str, Counter[str]] = {}
    for path in sorted(folder.glob("*.log")):
        service = path.stem.rsplit("-", 2)[0]
        counts = out.setdefault(service, Counter())
        with path.open(errors="replace") as log:
            for line in log:
                for name, pattern in SIGNALS.items():
                    if pattern.search(line):
                        counts[name] += 1
    return {service: dict(counts) for service, counts in out.items() if counts}

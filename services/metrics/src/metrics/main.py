"""`forecourt-metrics`: migrate the database, then serve HTTP and consume every funnel event.

`forecourt-metrics rebuild` (or `python -m metrics.rebuild`) empties every projection and
projects the whole event log again, in one transaction.
"""

from __future__ import annotations

import sys

from metrics.config import MetricsSettings
from metrics.entrypoints.http.app import create_app
from shared.runtime import serve


def main() -> None:
    if sys.argv[1:2] == ["rebuild"]:
        from metrics.rebuild import main as rebuild

        rebuild()
        return
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [rebuild]")
    serve(create_app, MetricsSettings(), "metrics.entrypoints.http.app:create_app")


if __name__ == "__main__":
    main()

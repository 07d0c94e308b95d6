"""`forecourt-recovery`: migrate the database, then serve HTTP, consume events, fire due steps."""

from __future__ import annotations

from recovery.config import RecoverySettings
from recovery.entrypoints.http.app import create_app
from shared.runtime import serve


def main() -> None:
    serve(create_app, RecoverySettings(), "recovery.entrypoints.http.app:create_app")


if __name__ == "__main__":
    main()

"""`forecourt-assignment`: migrate the database, then serve HTTP, consume events, fire timers."""

from __future__ import annotations

from assignment.config import AssignmentSettings
from assignment.entrypoints.http.app import create_app
from shared.runtime import serve


def main() -> None:
    serve(create_app, AssignmentSettings(), "assignment.entrypoints.http.app:create_app")


if __name__ == "__main__":
    main()

"""`forecourt-intake`: migrate the database, then serve HTTP and consume AMQP."""

from __future__ import annotations

from intake.config import IntakeSettings
from intake.entrypoints.http.app import create_app
from shared.runtime import serve


def main() -> None:
    serve(create_app, IntakeSettings(), "intake.entrypoints.http.app:create_app")


if __name__ == "__main__":
    main()

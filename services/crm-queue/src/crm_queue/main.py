"""`forecourt-crm-queue`: migrate the database, then serve HTTP, consume events, fire timers."""

from __future__ import annotations

from crm_queue.config import CrmQueueSettings
from crm_queue.entrypoints.http.app import create_app
from shared.runtime import serve


def main() -> None:
    serve(create_app, CrmQueueSettings(), "crm_queue.entrypoints.http.app:create_app")


if __name__ == "__main__":
    main()

"""`forecourt-crm-queue`: migrate the database, then serve HTTP, consume events, fire timers."""

from __future__ import annotations

import logging

import uvicorn

from crm_queue.config import CrmQueueSettings
from crm_queue.entrypoints.http.app import create_app


def main() -> None:
    settings = CrmQueueSettings()
    logging.basicConfig(
        level=settings.common.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.common.log_level.lower(),
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()

"""The one way services build their RabbitMQ broker: publisher confirms, returns raise."""

from __future__ import annotations

import logging

from faststream.rabbit import Channel, RabbitBroker

from shared.settings import CommonSettings


def create_broker(settings: CommonSettings, *, app_id: str) -> RabbitBroker:
    return RabbitBroker(
        settings.amqp_url,
        default_channel=Channel(
            prefetch_count=settings.prefetch,
            publisher_confirms=True,
            # A mandatory message that no queue takes is still confirmed; make it an error.
            on_return_raises=True,
        ),
        app_id=app_id,
        graceful_timeout=15.0,
        # faststream logs each message at the broker's level: keep that out of INFO.
        log_level=logging.DEBUG,
    )

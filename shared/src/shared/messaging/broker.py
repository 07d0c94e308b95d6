"""The one way services build their RabbitMQ broker: publisher confirms, returns raise, and a
connection that comes back within about a second of the broker (`shared.messaging.reconnect`)."""

from __future__ import annotations

import logging

from faststream.rabbit import Channel, RabbitBroker

from shared.messaging.reconnect import RECONNECT_SECONDS, QuickReconnect
from shared.settings import CommonSettings


def create_broker(settings: CommonSettings, *, app_id: str) -> RabbitBroker:
    broker = RabbitBroker(
        settings.amqp_url,
        default_channel=Channel(
            prefetch_count=settings.prefetch,
            publisher_confirms=True,
            # A mandatory message that no queue takes is still confirmed; make it an error.
            on_return_raises=True,
        ),
        app_id=app_id,
        graceful_timeout=15.0,
        reconnect_interval=RECONNECT_SECONDS,
        # faststream logs each message at the broker's level: keep that out of INFO.
        log_level=logging.DEBUG,
    )
    # faststream 0.7 hands these to aio_pika.connect_robust as they are, and takes no connection
    # class of its own: ours waits ~1 s (jittered) between tries, not a fixed 5 s.
    # tests/integration/shared/test_broker_reconnect.py checks it is the one in use.
    broker._connection_kwargs["connection_class"] = QuickReconnect
    return broker

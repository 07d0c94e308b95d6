"""Publishing with publisher confirms, many messages in flight on one channel.

aio-pika's `Exchange.publish` waits, while it holds the channel lock, until each message's
frames are written to the socket: messages published at once still go out one by one, a loop
turn each. aiormq's channel (the one under aio-pika's) takes `wait=False` and skips that wait;
the broker's confirm is still awaited. Measured on the outbox relay: less CPU per event and more
events/s (`bench/outbox`).
"""

from __future__ import annotations

from typing import cast

import aio_pika
import aiormq

PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)
Properties = aiormq.spec.Basic.Properties


async def underlay(channel: aio_pika.abc.AbstractChannel) -> aiormq.Channel:
    """aiormq's channel under an aio-pika one, to publish with `wait=False` (see above)."""
    return cast(aiormq.Channel, await channel.get_underlay_channel())


async def publish_confirmed(
    channel: aio_pika.abc.AbstractChannel,
    body: bytes,
    *,
    exchange: str,
    routing_key: str,
    properties: Properties,
    mandatory: bool = True,
    confirm_timeout: float | None = None,
) -> None:
    """Publish and wait for the broker's confirm. Raises if the broker nacks, or returns a
    mandatory message (on a channel opened with `on_return_raises=True`), or after
    `confirm_timeout` seconds."""
    await (await underlay(channel)).basic_publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        properties=properties,
        mandatory=mandatory,
        timeout=confirm_timeout,
        wait=False,
    )

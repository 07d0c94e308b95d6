"""Ways in over AMQP: raw leads on `forecourt.intake.raw`, and the funnel events that move a
lead on (de-duplication merges only into a lead in first contact or an open prospect) or say
its person must never be contacted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from intake.adapters.repository import SourceRow
from intake.config import IntakeSettings
from intake.service_layer import lifecycle, sources
from intake.service_layer.receive import (
    InvalidPayload,
    ProcessingFailed,
    Receiver,
    UowFactory,
    describe,
)
from shared.contracts import Envelope, parse_envelope
from shared.http import database_transient
from shared.messaging.consumer import PoisonMessage, subscribe
from shared.messaging.topology import Topology

CONSUMER = "intake"
MAX_KEY_CHARS = 200  # far above a real key: a longer one is not hashed to find out
# Qualified or reactivated: a prospect; lost: closed (until a reactivation); won, dead: closed.
CLOSING_EVENTS = (
    "lead.qualified.v1",
    "lead.lost.v1",
    "prospect.won.v1",
    "prospect.lost.v1",
    "lead.dead.v1",
    "lead.reactivated.v1",
)


@dataclass(frozen=True)
class RawLead:
    source: SourceRow
    body: bytes
    message_id: str | None
    correlation_id: str | None
    content_type: str | None


def register(
    broker: RabbitBroker,
    topology: Topology,
    receiver: Receiver,
    uows: UowFactory,
    keys: sources.SourceKeys,
    *,
    max_bytes: int = IntakeSettings.model_fields["max_json_bytes"].default,
) -> list[str]:
    """Subscribe intake's consumers; returns the queue names (for their dead-letter queues).
    A raw lead larger than `max_bytes` is dead-lettered unread, its start kept as invalid."""

    async def authenticate(message: RabbitMessage) -> SourceRow:
        key = (message.raw_message.headers or {}).get("x-api-key")
        if not isinstance(key, str) or not key:
            raise PoisonMessage("x-api-key header is required")
        if len(key) > MAX_KEY_CHARS:
            raise PoisonMessage("invalid or revoked API key")
        source = await keys.authenticate(key)
        if source is None:
            raise PoisonMessage("invalid or revoked API key")
        return source

    def read(body: bytes, message: RabbitMessage) -> tuple[bytes, RabbitMessage]:
        return body, message

    async def on_raw_lead(received: tuple[bytes, RabbitMessage]) -> None:
        body, message = received
        source = await authenticate(message)
        raw = message.raw_message
        if len(body) > max_bytes:  # the limit a JSON lead has over HTTP (INTAKE_MAX_JSON_BYTES)
            reason = f"body is {len(body)} bytes; the limit is {max_bytes}"
            await receiver.refuse(
                source,
                fmt="amqp",
                body=body[:max_bytes],
                content_type=raw.content_type,
                idempotency_header=raw.message_id,
                error=f"{reason} (the first {max_bytes} bytes are kept)",
            )
            raise PoisonMessage(reason)
        # The message id is the idempotency key: a redelivery after a crash is a no-op.
        try:
            await receiver.receive(
                source,
                fmt="amqp",
                body=body,
                content_type=raw.content_type,
                idempotency_header=raw.message_id,
                correlation_id=raw.correlation_id,
            )
        except (InvalidPayload, PoisonMessage):
            raise  # dead-lettered with its field errors
        except ProcessingFailed as exc:  # marked failed; retrying would fail the same way
            raise PoisonMessage(exc.error) from exc
        except Exception as exc:
            if database_transient(exc):
                raise  # transient: retried
            # Redelivering it would fail the same way, delivery after delivery: dead-letter it
            # now, with the error that a person can act on.
            raise PoisonMessage(describe(exc)) from exc

    raw_queue = topology.intake_raw_queue()
    # With the batcher on, raw leads are written a batch per transaction by its workers: every
    # delivery held (up to the prefetch) joins a batch, instead of as many as the pool has slots.
    subscribe(
        broker,
        broker,
        topology,
        raw_queue,
        parse=read,
        handle=on_raw_lead,
        needs_slot=lambda: receiver.batcher is None,
    )
    names = [raw_queue.name]

    def parse(body: bytes, _message: RabbitMessage) -> Envelope[Any]:
        return parse_envelope(body)

    async def on_lead_left_first_contact(envelope: Envelope[Any]) -> None:
        await lifecycle.apply(uows, CONSUMER, envelope)

    for routing_key in CLOSING_EVENTS:
        queue = topology.consumer_queue(CONSUMER, routing_key)
        subscribe(
            broker,
            broker,
            topology,
            queue,
            parse=parse,
            handle=on_lead_left_first_contact,
            exchange=topology.events_exchange(),
        )
        names.append(queue.name)
    return names

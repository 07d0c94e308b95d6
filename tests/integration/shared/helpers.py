"""Small helpers for the shared building blocks' integration tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.tables import add_messaging_tables


@dataclass
class SampleEvent:
    """Enough of an envelope for the outbox (the real one is shared.contracts.Envelope)."""

    tenant_id: str = "tenant-a"
    event_type: str = "lead.ingested"
    event_version: int = 1
    producer: str = "test"
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    data: dict[str, Any] = field(default_factory=dict)

    def to_json_bytes(self) -> bytes:
        return json.dumps({"event_id": str(self.event_id), "data": self.data}).encode()


async def create_messaging_tables(engine: AsyncEngine) -> None:
    metadata = MetaData()
    add_messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def collect(queue: aio_pika.abc.AbstractQueue, n: int, within: float = 20) -> list[Any]:
    """Consume `n` messages (acking them) or fail after `within` seconds."""
    got: list[Any] = []
    async with queue.iterator() as it:
        async with asyncio.timeout(within):
            async for message in it:
                async with message.process():
                    got.append(message)
                if len(got) >= n:
                    break
    return got

"""Move dead letters from `<queue>.dlq` back to `<queue>`, or only look at them.

    .venv/bin/python -m scripts.replay_dlq crm-queue.lead.ingested.v1.dlq --dry-run
    .venv/bin/python -m scripts.replay_dlq crm-queue.lead.ingested.v1.dlq --limit 10

Each message is republished to the default exchange with the source queue's name as routing key
(publisher confirms, mandatory), then acked on the `.dlq`: at least once, so a crash between the
two can leave a copy in both; consumers claim event ids in their inbox, so a duplicate is a
no-op. The dead-lettering headers are dropped (`x-death`, `x-first-death-*`, `x-forecourt-*`, the
quorum queue's `x-delivery-count`) and `x-forecourt-replays` counts the replays. At most the
messages present at the start are moved, so one that dies again is not looped.
`--dry-run` prints the messages and their reasons and puts them all back.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, Any

import aio_pika
import typer
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.messaging.topology import Topology
from shared.settings import CommonSettings

DLQ_SUFFIX = ".dlq"
REPLAYS_HEADER = "x-forecourt-replays"
_DROPPED_PREFIXES = ("x-death", "x-first-death-", "x-last-death-", "x-forecourt-")
_DROPPED = {"x-delivery-count"}


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    reason: str
    error: str | None
    error_type: str | None
    body_preview: str

    def line(self) -> str:
        error = f" {self.error_type or 'error'}: {self.error}" if self.error else ""
        return f"{self.message_id or '-'}  [{self.reason}]{error}  {self.body_preview}"


@dataclass(frozen=True)
class ReplayResult:
    source_queue: str
    dead_letter_queue: str
    seen: list[DeadLetter]
    moved: int
    dry_run: bool


def queue_names(name: str) -> tuple[str, str]:
    """(source queue, dead-letter queue) from either name."""
    if name.endswith(DLQ_SUFFIX):
        return name.removesuffix(DLQ_SUFFIX), name
    return name, Topology.dead_letter_queue_name(name)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def describe(message: AbstractIncomingMessage, preview: int = 120) -> DeadLetter:
    headers = message.headers or {}
    # x-forecourt-error: refused by our consumer (poison); x-first-death-reason: by the broker
    # (delivery_limit, rejected, expired).
    error = _text(headers.get("x-forecourt-error"))
    reason = _text(headers.get("x-first-death-reason")) or ("poison" if error else "unknown")
    body = message.body.decode(errors="replace").replace("\n", " ")
    return DeadLetter(
        message_id=message.message_id,
        reason=reason,
        error=error,
        error_type=_text(headers.get("x-forecourt-error-type")),
        body_preview=body[:preview] + ("…" if len(body) > preview else ""),
    )


def replayed_headers(headers: dict[str, Any]) -> dict[str, Any]:
    kept = {
        k: v
        for k, v in headers.items()
        if k not in _DROPPED and not k.startswith(_DROPPED_PREFIXES)
    }
    previous = headers.get(REPLAYS_HEADER)
    kept[REPLAYS_HEADER] = (previous if isinstance(previous, int) else 0) + 1
    return kept


def _copy(message: AbstractIncomingMessage) -> aio_pika.Message:
    return aio_pika.Message(
        message.body,
        headers=replayed_headers(dict(message.headers or {})),
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


async def _message_count(channel: AbstractChannel, name: str) -> int:
    """Messages ready in an existing queue; a passive declare fails if it does not exist."""
    queue = await channel.declare_queue(name, passive=True)
    count = queue.declaration_result.message_count
    return int(count or 0)


async def replay(
    amqp_url: str, queue: str, *, limit: int | None = None, dry_run: bool = False
) -> ReplayResult:
    source, dlq_name = queue_names(queue)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        # Confirms on, and a return (no such queue) raises instead of being confirmed.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        available = await _message_count(channel, dlq_name)
        await _message_count(channel, source)  # fail early if the source queue is gone
        wanted = available if limit is None else min(limit, available)
        dlq = await channel.get_queue(dlq_name, ensure=False)
        seen: list[DeadLetter] = []
        held: list[AbstractIncomingMessage] = []
        moved = 0
        try:
            while len(seen) < wanted:
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                seen.append(describe(message))
                if dry_run:
                    held.append(message)  # unacked until the end, so the next get moves on
                    continue
                try:
                    await channel.default_exchange.publish(
                        _copy(message), routing_key=source, mandatory=True, timeout=10
                    )
                except BaseException:
                    await message.nack(requeue=True)
                    raise
                await message.ack()
                moved += 1
        finally:
            for message in held:
                await message.nack(requeue=True)
    return ReplayResult(source, dlq_name, seen, moved, dry_run)


def main(
    queue: Annotated[str, typer.Argument(help="the dead-letter queue `<queue>.dlq` (or <queue>)")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="move at most this many (default: all)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only print them, with their reasons")
    ] = False,
    amqp_url: Annotated[
        str | None, typer.Option(help="default: FORECOURT_AMQP_URL", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    url = amqp_url or CommonSettings().amqp_url
    try:
        result = asyncio.run(replay(url, queue, limit=limit, dry_run=dry_run))
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        typer.echo(f"no such queue: {exc}", err=True)
        raise typer.Exit(2) from exc
    for dead in result.seen:
        typer.echo(json.dumps(dead.__dict__) if as_json else dead.line())
    if result.dry_run:
        typer.echo(
            f"dry run: {len(result.seen)} message(s) in {result.dead_letter_queue} "
            f"left where they are",
            err=True,
        )
    else:
        typer.echo(
            f"moved {result.moved} message(s) from {result.dead_letter_queue} "
            f"to {result.source_queue}",
            err=True,
        )


if __name__ == "__main__":
    typer.run(main)

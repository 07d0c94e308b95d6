"""The unit of work every service's handlers run in: one transaction, events into the outbox.

A handler adds domain rows through the session and the events it raises through `emit()`;
`commit()` writes both in the same transaction, so a crash at any line either keeps both or
neither. Services subclass it to add their repositories.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import inbox
from shared.outbox import _INSERT, _NOTIFY, OutgoingEvent, outbox_row


class UnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_commit = on_commit
        self._events: list[OutgoingEvent] = []
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self._events = []
        self._committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    def emit(self, event: OutgoingEvent) -> None:
        self._events.append(event)

    @property
    def pending_events(self) -> list[OutgoingEvent]:
        return list(self._events)

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        """Inbox claim: False means this consumer already handled the event."""
        return await inbox.claim(self.session, consumer, event_id)

    async def claim_many(self, consumer: str, event_ids: Iterable[UUID]) -> set[UUID]:
        """Inbox claim of a batch: the ids not handled by this consumer before."""
        return await inbox.claim_many(self.session, consumer, event_ids)

    async def commit(self) -> None:
        events = self._events
        if events:
            rows: list[dict[str, Any]] = []
            for event in events:
                row = outbox_row(event)
                row["headers"] = json.dumps(row["headers"])
                rows.append(row)
            await self.session.execute(_INSERT, rows)
            await self.session.execute(_NOTIFY)
        await self.session.commit()
        self._committed = True
        self._events = []
        if events and self._on_commit is not None:
            self._on_commit()

    async def rollback(self) -> None:
        await self.session.rollback()
        self._events = []

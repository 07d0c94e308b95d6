"""recovery's unit of work: the shared one plus recovery's repository."""

from __future__ import annotations

from typing import Self

from recovery.adapters.repository import RecoveryRepository
from shared.uow import UnitOfWork


class RecoveryUnitOfWork(UnitOfWork):
    repo: RecoveryRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.repo = RecoveryRepository(self.session)
        return self

"""crm-queue's unit of work: the shared one plus crm-queue's repository."""

from __future__ import annotations

from typing import Self

from crm_queue.adapters.repository import CrmRepository
from shared.uow import UnitOfWork


class CrmUnitOfWork(UnitOfWork):
    repo: CrmRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.repo = CrmRepository(self.session)
        return self

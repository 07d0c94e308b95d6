"""assignment's unit of work: the shared one plus assignment's repository."""

from __future__ import annotations

from typing import Self

from assignment.adapters.repository import AssignmentRepository
from shared.uow import UnitOfWork


class AssignmentUnitOfWork(UnitOfWork):
    repo: AssignmentRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.repo = AssignmentRepository(self.session)
        return self

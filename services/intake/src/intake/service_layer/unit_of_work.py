"""Intake's unit of work: the shared one plus intake's repository."""

from __future__ import annotations

from typing import Self

from intake.adapters.repository import IntakeRepository
from shared.uow import UnitOfWork


class IntakeUnitOfWork(UnitOfWork):
    repo: IntakeRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.repo = IntakeRepository(self.session)
        return self

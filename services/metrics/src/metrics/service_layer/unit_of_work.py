"""metrics' unit of work: the shared one plus the projection's writes."""

from __future__ import annotations

from typing import Self

from metrics.adapters.projection import Projection
from shared.uow import UnitOfWork


class MetricsUnitOfWork(UnitOfWork):
    projection: Projection

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.projection = Projection(self.session)
        return self

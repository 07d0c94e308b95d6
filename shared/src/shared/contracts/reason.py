"""A loss on the wire: a code from the closed list and its category, which must agree."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.contracts.base import WireModel
from shared.contracts.lost_reasons import LostReasonCategory, LostReasonCode, category_of


class CodedLoss(WireModel):
    """Mixin of the `*.lost` payloads. The category is redundant on purpose: consumers such as
    the metrics service group by it without a copy of the table."""

    reason_code: LostReasonCode
    category: LostReasonCategory = Field(description="The reason code's category (its prefix)")

    @model_validator(mode="after")
    def _category_matches_code(self) -> Self:
        expected = category_of(self.reason_code)
        if self.category != expected:
            raise ValueError(f"{self.reason_code} is in category {expected}, not {self.category}")
        return self

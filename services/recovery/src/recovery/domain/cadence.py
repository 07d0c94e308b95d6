"""Cadences: on which days after a loss (or after a postponed purchase's date) to follow up.

The default is day 3, 7, 14, 30, 60, 90 (spec/funnel.md); reasons whose action is a "short
cadence" stop after day 14. A tenant may set its own default and its own days per reason;
reasons that recovery never follows up cannot be given a cadence.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.contracts.lost_reasons import LOST_REASONS, LostReasonCode, RecoverPolicy

Days = tuple[int, ...]

DEFAULT_CADENCE: Days = (3, 7, 14, 30, 60, 90)
SHORT_CADENCE: Days = (3, 7, 14)
MAX_STEPS = 20
MAX_DAY = 3650

# The reason table's "short cadence" actions.
BUILT_IN: Mapping[LostReasonCode, Days] = {
    LostReasonCode.NO_INTEREST_SELF_VISIT: SHORT_CADENCE,
    LostReasonCode.NO_INTEREST_FOLLOW_UP: SHORT_CADENCE,
}

RECOVERABLE: tuple[LostReasonCode, ...] = tuple(
    code
    for code, reason in LOST_REASONS.items()
    if reason.recover in (RecoverPolicy.YES, RecoverPolicy.EMAIL_ONLY)
)


def check_days(days: Any) -> Days:
    """Strictly increasing whole days from 0 (the day of the loss) to 3650, 1 to 20 steps."""
    out = tuple(days)
    if not 1 <= len(out) <= MAX_STEPS:
        raise ValueError(f"between 1 and {MAX_STEPS} steps")
    if any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= MAX_DAY for d in out):
        raise ValueError(f"each step is a whole day from 0 to {MAX_DAY}")
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ValueError("days must be strictly increasing")
    return out


@dataclass(frozen=True)
class Cadences:
    """A tenant's cadences: its own default (or the built-in one) and its per-reason days."""

    default: Days | None = None
    reasons: Mapping[LostReasonCode, Days] = field(default_factory=dict)

    def for_reason(self, code: LostReasonCode) -> Days:
        if code in self.reasons:
            return self.reasons[code]
        if code in BUILT_IN:
            return BUILT_IN[code]
        return self.default or DEFAULT_CADENCE

    def effective(self) -> dict[str, list[int]]:
        """Every recoverable reason with the days it gets."""
        return {code.value: list(self.for_reason(code)) for code in RECOVERABLE}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cadences:
        reasons: dict[LostReasonCode, Days] = {}
        for key, days in (data.get("reasons") or {}).items():
            code = LostReasonCode(key)
            if code not in RECOVERABLE:
                raise ValueError(f"{code}: recovery never follows this reason up")
            reasons[code] = check_days(days)
        default = data.get("default")
        return cls(default=check_days(default) if default is not None else None, reasons=reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "default": list(self.default) if self.default is not None else None,
            "reasons": {code.value: list(days) for code, days in sorted(self.reasons.items())},
        }

"""Where a lead is in the funnel, from the funnel events intake learnt of, by their own times.

Three stages matter to de-duplication:
- `open`: in first contact (crm-queue's task); a new enquiry of the person merges into it;
- `prospect`: qualified, or reactivated by recovery, and not closed since; a new enquiry of
  the person merges into it too, for the consultant (`lead.duplicate` with stage `prospect`);
- `closed`: lost (by an agent or a consultant), won, or dead; a new enquiry of the person is a
  new lead following it.

A lead leaves `open` for good with its first funnel event. After that a loss closes it and a
later reactivation opens it again as a prospect; a sale or recovery's `lead.dead` ends it for
good. Each event is kept with its time, and the stage at any moment is computed from all of
them in time order: so the events of a lead give the same stages whatever order they arrive
in, and intake can tell, when it learns an event late, what an enquiry it received meanwhile
should have been.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Stage = Literal["open", "prospect", "closed"]
Kind = Literal["qualified", "reactivated", "lost", "won", "dead", "closed"]

# Funnel events (type without version) to the kind of step they are.
KINDS: dict[str, Kind] = {
    "lead.qualified": "qualified",
    "lead.reactivated": "reactivated",
    "lead.lost": "lost",
    "prospect.lost": "lost",
    "prospect.won": "won",
    "lead.dead": "dead",
}
OPENING: frozenset[Kind] = frozenset({"qualified", "reactivated"})
# `closed`: a lead closed before intake kept its steps (migration 0010), taken as a loss.
CLOSING: frozenset[Kind] = frozenset({"lost", "closed"})
ENDING: frozenset[Kind] = frozenset({"won", "dead"})


@dataclass(frozen=True)
class Step:
    kind: Kind
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Step:
        kind = value["kind"]
        if kind not in OPENING | CLOSING | ENDING:
            raise ValueError(f"unknown funnel step {kind!r}")
        return cls(kind, datetime.fromisoformat(value["at"]))


def steps_of(stored: Iterable[dict[str, Any]] | None) -> list[Step]:
    return [Step.from_json(s) for s in stored or ()]


def stage_of(steps: Sequence[Step], before: datetime | None = None) -> Stage:
    """The lead's stage given `steps`, counting only those before `before` (None: all).

    Ended (won, dead) is closed for good; otherwise the latest opening (qualified,
    reactivated) against the latest loss: a prospect if it opened after its last loss.
    A loss and an opening at the same instant: closed (recovery reactivates after a loss).
    """
    seen = [s for s in steps if before is None or s.at < before]
    if not seen:
        return "open"
    if any(s.kind in ENDING for s in seen):
        return "closed"
    opened = max((s.at for s in seen if s.kind in OPENING), default=None)
    lost = max((s.at for s in seen if s.kind in CLOSING), default=None)
    if opened is not None and (lost is None or opened > lost):
        return "prospect"
    return "closed"

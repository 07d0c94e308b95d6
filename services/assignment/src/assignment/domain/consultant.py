"""A sales consultant of one dealership: skills, hours, absences, cap, presence.

Presence: a consultant who clocked in is present and one who clocked out is not, until they go
back to following their schedule (`clocked` None): then the working hours decide. Absences and
an inactive profile override everything: such a consultant never receives a prospect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from assignment.domain.schedule import WeeklyHours

DEFAULT_CAP = 25


@dataclass(frozen=True)
class Absence:
    start: datetime
    end: datetime
    reason: str | None = None

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Needs:
    """What a prospect asks of its consultant (None: anyone will do)."""

    make: str | None = None  # case-folded brand of the vehicle of interest
    condition: str | None = None  # new | used
    language: str | None = None  # primary language subtag, lower case


def condition_of(value: str | None) -> str | None:
    """Vehicle condition as a skill: certified pre-owned cars are sold by the used-car team."""
    if value is None:
        return None
    return "new" if value == "new" else "used"


@dataclass
class Consultant:
    tenant_id: str
    consultant_id: str
    dealership_id: str
    name: str
    brands: frozenset[str] = frozenset()  # case-folded; empty: every brand
    conditions: frozenset[str] = frozenset()  # new, used; empty: both
    languages: frozenset[str] = frozenset()  # empty: not a criterion
    hours: WeeklyHours | None = None
    absences: tuple[Absence, ...] = ()
    cap: int = DEFAULT_CAP
    active: bool = True
    clocked: bool | None = None  # True clocked in, False clocked out, None follows the schedule
    last_assigned_at: datetime | None = field(default=None, compare=False)

    def is_absent(self, at: datetime) -> bool:
        return any(a.covers(at) for a in self.absences)

    def is_present(self, at: datetime) -> bool:
        if not self.active or self.is_absent(at):
            return False
        if self.clocked is not None:
            return self.clocked
        return self.hours is not None and self.hours.contains(at)

    def has_skills(self, needs: Needs) -> bool:
        if needs.make and self.brands and needs.make not in self.brands:
            return False
        if needs.condition and self.conditions and needs.condition not in self.conditions:
            return False
        return not (needs.language and self.languages and needs.language not in self.languages)

    def can_take(self, needs: Needs, open_prospects: int, at: datetime) -> bool:
        """Eligible: present, skilled for it, and under the cap."""
        return self.is_present(at) and self.has_skills(needs) and open_prospects < self.cap

    def next_presence_start(self, after: datetime) -> datetime | None:
        """The next moment this consultant may become present on their own (a shift starts, an
        absence ends); None when only a clock-in or a manager can change it."""
        if not self.active or self.clocked is False:
            return None
        moments = [a.end for a in self.absences if a.end > after]
        if self.clocked is None and self.hours is not None:
            start = self.hours.next_start(after)
            if start is not None:
                moments.append(start)
        return min(moments, default=None)

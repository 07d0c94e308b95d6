"""A dealership's first-contact policy: SLA, persistence minimums, follow-up rounds, lease.

Durations are calendar time except `sla`, which counts opening time only (speed to lead is
measured while someone could answer). `sla` is the SLA of every source kind that
`sla_by_source` leaves out; by default events get 1 business day and bought lists 3 (module
`sla`). A follow-up gap is calendar time too, then moved to the next opening moment: "call again
tomorrow" means tomorrow, not 24 working hours later.

The hours must open again within `MAX_CLOSED_DAYS` from any moment (`OpeningHours.check_reopens`):
otherwise no SLA or follow-up could be computed and every lead of the dealership would fail.

JSON shape (every field but `hours` may be left out and takes its default; a `sla_by_source`
given replaces the default one whole):
`{"hours": {...OpeningHours...}, "sla": "PT15M",
"sla_by_source": {"event": {"business_days": 1}, "list": {"business_days": 3}},
"min_attempts": 6, "min_attempt_days": 3,
"min_days": 5, "min_channels": 2, "first_round": ["PT2H", "P1D", "P1D", "P1D", "P2D"],
"second_round": ["P7D", "P7D"], "lease": "PT10M", "pool_period": "P30D"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, get_args

from crm_queue.domain import sla as slas
from crm_queue.domain.durations import format_duration, parse_duration
from crm_queue.domain.hours import OpeningHours
from shared.contracts.common import Channel

CHANNELS: tuple[Channel, ...] = get_args(Channel)

# 6 attempts over a little more than 5 days: the spec's default minimum is met by the cadence.
DEFAULT_FIRST_ROUND = (
    timedelta(hours=2),
    timedelta(days=1),
    timedelta(days=1),
    timedelta(days=1),
    timedelta(days=2),
)
DEFAULT_SECOND_ROUND = (timedelta(days=7), timedelta(days=7))
MAX_LEASE = timedelta(hours=8)  # a lease outliving a shift would hide a lead from everyone
MAX_POOL_PERIOD = timedelta(days=366)
MAX_ROUND_GAPS = 30  # a cadence of more follow-ups than that is a typo, not persistence

_DURATION_FIELDS = ("sla", "lease", "pool_period")
_INT_FIELDS = ("min_attempts", "min_attempt_days", "min_days", "min_channels")
DEFAULT_ATTEMPT_DAYS = 3
_ROUND_FIELDS = ("first_round", "second_round")
_FIELDS = frozenset({"hours", "sla_by_source", *_DURATION_FIELDS, *_INT_FIELDS, *_ROUND_FIELDS})


@dataclass(frozen=True)
class Policy:
    hours: OpeningHours
    sla: timedelta = timedelta(minutes=15)
    sla_by_source: Mapping[str, slas.Sla] = field(
        default_factory=lambda: dict(slas.DEFAULT_SLA_BY_SOURCE)
    )
    min_attempts: int = 6
    min_attempt_days: int = DEFAULT_ATTEMPT_DAYS  # different local days with an attempt
    min_days: int = 5  # from the first attempt's local day to the last one's
    min_channels: int = 2
    first_round: tuple[timedelta, ...] = DEFAULT_FIRST_ROUND
    second_round: tuple[timedelta, ...] = DEFAULT_SECOND_ROUND
    lease: timedelta = timedelta(minutes=10)
    # A lead in the pool this long without being reached is closed as not reached.
    pool_period: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if not isinstance(self.hours, OpeningHours):
            raise ValueError("hours: expected OpeningHours")
        try:
            self.hours.check_reopens()
        except ValueError as exc:
            raise ValueError(f"hours.{exc}") from None
        for name in _DURATION_FIELDS:
            if not isinstance(getattr(self, name), timedelta):
                raise ValueError(f"{name}: expected a duration")
        if not timedelta(0) < self.sla:
            raise ValueError(f"sla: must be positive, got {self.sla}")
        if not isinstance(self.sla_by_source, Mapping):
            raise ValueError("sla_by_source: expected a mapping of source kind to SLA")
        for kind, rule in self.sla_by_source.items():
            if kind not in slas.SOURCE_KINDS:
                raise ValueError(f"sla_by_source.{kind}: unknown source kind")
            slas.check(rule, f"sla_by_source.{kind}")
        if not timedelta(0) < self.pool_period <= MAX_POOL_PERIOD:
            raise ValueError(
                f"pool_period: must be positive and at most {MAX_POOL_PERIOD.days} days, "
                f"got {self.pool_period}"
            )
        if not timedelta(0) < self.lease <= MAX_LEASE:
            raise ValueError(f"lease: must be positive and at most {MAX_LEASE}, got {self.lease}")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
        if self.min_attempts < 1:
            raise ValueError("min_attempts: must be at least 1")
        if self.min_attempt_days > self.min_attempts:
            raise ValueError(
                f"min_attempt_days: {self.min_attempt_days} days need at least as many attempts "
                f"(min_attempts is {self.min_attempts})"
            )
        if not 1 <= self.min_channels <= len(CHANNELS):
            raise ValueError(f"min_channels: must be between 1 and {len(CHANNELS)}")
        for name in _ROUND_FIELDS:
            gaps = getattr(self, name)
            if not isinstance(gaps, tuple):
                raise ValueError(f"{name}: expected a tuple of durations")
            if len(gaps) > MAX_ROUND_GAPS:
                raise ValueError(f"{name}: at most {MAX_ROUND_GAPS} gaps, got {len(gaps)}")
            for i, gap in enumerate(gaps):
                if not isinstance(gap, timedelta) or gap <= timedelta(0):
                    raise ValueError(f"{name}[{i}]: expected a positive duration, got {gap!r}")
        if self.min_attempts > self.scheduled_attempts:
            # The rounds would send the lead to the pool before "not reached" could be chosen.
            raise ValueError(
                f"min_attempts: {self.min_attempts} is more than the {self.scheduled_attempts} "
                "attempts the first and second rounds schedule"
            )

    def sla_due_at(self, received_at: datetime, source_kind: str | None) -> datetime:
        """When first contact is due for a lead of this source kind received then."""
        rule = self.sla_by_source.get(source_kind or "", self.sla)
        return slas.due_at(self.hours, received_at, rule)

    @property
    def scheduled_attempts(self) -> int:
        """Attempts the cadence plans before the pool: the first call plus one per gap."""
        return 1 + len(self.first_round) + len(self.second_round)

    @classmethod
    def default(cls, timezone: str = "UTC") -> Policy:
        """The spec's defaults; always open, as guessing a dealership's hours would be worse."""
        return cls(hours=OpeningHours.always_open(timezone))

    @classmethod
    def from_json(cls, data: Any) -> Policy:
        if not isinstance(data, Mapping):
            raise ValueError("policy: expected an object")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown field")
        if not isinstance(data.get("hours"), Mapping):
            raise ValueError("hours: required, an object")
        try:
            hours = OpeningHours.from_json(data["hours"])
        except ValueError as exc:
            raise ValueError(f"hours.{exc}") from exc
        values: dict[str, Any] = {"hours": hours}
        for name in _DURATION_FIELDS:
            if name in data:
                values[name] = parse_duration(data[name], name)
        if "sla_by_source" in data:
            values["sla_by_source"] = slas.by_source_from_json(
                data["sla_by_source"], "sla_by_source"
            )
        for name in _INT_FIELDS:
            if name in data:
                values[name] = data[name]  # type-checked in __post_init__
        attempts = values.get("min_attempts")
        if "min_attempt_days" not in values and isinstance(attempts, int) and attempts >= 0:
            # Left out (or stored before the field existed): never more days than attempts.
            values["min_attempt_days"] = min(DEFAULT_ATTEMPT_DAYS, attempts)
        for name in _ROUND_FIELDS:
            if name in data:
                if not isinstance(data[name], list):
                    raise ValueError(f"{name}: expected a list of ISO 8601 durations")
                if len(data[name]) > MAX_ROUND_GAPS:
                    raise ValueError(f"{name}: at most {MAX_ROUND_GAPS} gaps")
                values[name] = tuple(
                    parse_duration(gap, f"{name}[{i}]") for i, gap in enumerate(data[name])
                )
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {
            "hours": self.hours.to_json(),
            "sla": format_duration(self.sla),
            "sla_by_source": {
                kind: slas.to_json(rule) for kind, rule in sorted(self.sla_by_source.items())
            },
            "min_attempts": self.min_attempts,
            "min_attempt_days": self.min_attempt_days,
            "min_days": self.min_days,
            "min_channels": self.min_channels,
            "first_round": [format_duration(gap) for gap in self.first_round],
            "second_round": [format_duration(gap) for gap in self.second_round],
            "lease": format_duration(self.lease),
            "pool_period": format_duration(self.pool_period),
        }

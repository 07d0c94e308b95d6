"""A dealership's routing: an ordered list of declarative rules, versioned, plus the
accountability times of its prospects.

The first rule whose `match` fits the prospect names the pool and the method; a prospect no
rule fits goes to the default pool (empty pool: every consultant of the dealership). A rule's
pool is strict: with nobody eligible in it the prospect waits rather than spilling into
another pool, so a manager's routing means what it says.

Every field of a match is optional; a list matches any of its values (case-insensitive), and an
empty or missing list matches everything. Days and times are local to the rules' time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal, get_args

from assignment.domain.schedule import DAY_NAMES, parse_clock, zone_of

Method = Literal["round_robin", "least_loaded", "close_rate", "up_for_grabs"]
METHODS: tuple[str, ...] = get_args(Method)

HOT_SLA = timedelta(hours=24)  # spec: a hot prospect is acted on within 24 h
HOT_REASSIGN_AFTER = timedelta(hours=48)  # ... and moves to someone else after 48 h
DEFAULT_NORMAL_SLA = timedelta(hours=48)


@dataclass(frozen=True)
class RoutingFacts:
    """What rules can match on, taken from the prospect's first enquiry."""

    source_id: str | None = None
    source_kind: str | None = None
    campaign: str | None = None
    make: str | None = None
    condition: str | None = None  # new | used
    hot: bool = False


def _fold(values: Any) -> tuple[str, ...]:
    return tuple(str(v).casefold() for v in values or ())


def _fits(wanted: tuple[str, ...], value: str | None) -> bool:
    return not wanted or (value is not None and value.casefold() in wanted)


@dataclass(frozen=True)
class Match:
    sources: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    makes: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    days: tuple[int, ...] = ()  # 0 = Monday
    time_from: time | None = None
    time_to: time | None = None  # exclusive; before time_from: the window spans midnight
    hot: bool | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Match:
        days = []
        for name in data.get("days") or ():
            if name not in DAY_NAMES:
                raise ValueError(f"unknown weekday {name!r}; use {', '.join(DAY_NAMES)}")
            days.append(DAY_NAMES.index(name))
        start, end = data.get("time_from"), data.get("time_to")
        if (start is None) != (end is None):
            raise ValueError("time_from and time_to go together")
        return cls(
            sources=_fold(data.get("sources")),
            source_kinds=_fold(data.get("source_kinds")),
            campaigns=_fold(data.get("campaigns")),
            makes=_fold(data.get("makes")),
            conditions=_fold(data.get("conditions")),
            days=tuple(days),
            time_from=parse_clock(start) if start else None,
            time_to=parse_clock(end, end=True) if end else None,
            hot=data.get("hot"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sources": list(self.sources),
            "source_kinds": list(self.source_kinds),
            "campaigns": list(self.campaigns),
            "makes": list(self.makes),
            "conditions": list(self.conditions),
            "days": [DAY_NAMES[d] for d in self.days],
        }
        if self.time_from is not None and self.time_to is not None:
            out["time_from"] = self.time_from.strftime("%H:%M")
            out["time_to"] = "24:00" if self.time_to == time(0) else self.time_to.strftime("%H:%M")
        if self.hot is not None:
            out["hot"] = self.hot
        return {k: v for k, v in out.items() if v not in ([], None)}

    def fits(self, facts: RoutingFacts, local: datetime) -> bool:
        if not (
            _fits(self.sources, facts.source_id)
            and _fits(self.source_kinds, facts.source_kind)
            and _fits(self.campaigns, facts.campaign)
            and _fits(self.makes, facts.make)
            and _fits(self.conditions, facts.condition)
        ):
            return False
        if self.hot is not None and self.hot != facts.hot:
            return False
        if self.days and local.weekday() not in self.days:
            return False
        if self.time_from is not None and self.time_to is not None:
            now = local.time().replace(tzinfo=None)
            end_of_day = self.time_to == time(0)
            if self.time_from < self.time_to or end_of_day:
                return self.time_from <= now and (end_of_day or now < self.time_to)
            return now >= self.time_from or now < self.time_to
        return True


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    pool: tuple[str, ...]  # consultant ids, in the order round robin ties break
    method: Method

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rule:
        method = data.get("method", "round_robin")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; use {', '.join(METHODS)}")
        return cls(
            name=data["name"],
            match=Match.from_json(data.get("match") or {}),
            pool=tuple(data.get("pool") or ()),
            method=method,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "match": self.match.to_json(),
            "pool": list(self.pool),
            "method": self.method,
        }


@dataclass(frozen=True)
class Route:
    rule: str | None  # None: the default pool
    pool: tuple[str, ...]  # empty: every consultant of the dealership
    method: Method


@dataclass(frozen=True)
class Routing:
    version: int = 0  # 0: nothing configured yet, the defaults apply
    timezone: str = "UTC"
    rules: tuple[Rule, ...] = ()
    default_pool: tuple[str, ...] = ()
    default_method: Method = "round_robin"
    normal_sla: timedelta = DEFAULT_NORMAL_SLA
    rotate_after: timedelta | None = None  # an untouched new prospect moves on after this

    @classmethod
    def from_json(cls, data: dict[str, Any], version: int) -> Routing:
        zone_of(data.get("timezone", "UTC"))
        rules = tuple(Rule.from_json(r) for r in data.get("rules") or ())
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        default = data.get("default") or {}
        method = default.get("method", "round_robin")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; use {', '.join(METHODS)}")
        rotate = data.get("rotate_after_minutes")
        return cls(
            version=version,
            timezone=data.get("timezone", "UTC"),
            rules=rules,
            default_pool=tuple(default.get("pool") or ()),
            default_method=method,
            normal_sla=timedelta(hours=data.get("normal_sla_hours", 48)),
            rotate_after=timedelta(minutes=rotate) if rotate else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "timezone": self.timezone,
            "rules": [r.to_json() for r in self.rules],
            "default": {"pool": list(self.default_pool), "method": self.default_method},
            "normal_sla_hours": self.normal_sla.total_seconds() / 3600,
            "rotate_after_minutes": (
                self.rotate_after.total_seconds() / 60 if self.rotate_after else None
            ),
        }

    def route(self, facts: RoutingFacts, now: datetime) -> Route:
        local = now.astimezone(zone_of(self.timezone))
        for rule in self.rules:
            if rule.match.fits(facts, local):
                return Route(rule.name, rule.pool, rule.method)
        return Route(None, self.default_pool, self.default_method)

    def sla(self, hot: bool) -> timedelta:
        return HOT_SLA if hot else self.normal_sla

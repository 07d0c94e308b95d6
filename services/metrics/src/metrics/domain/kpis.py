"""What a KPI request asks for, resolved to exact bounds. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Period = Literal["day", "mtd", "ytd", "range"]
Basis = Literal["activity", "cohort"]
GroupBy = Literal["none", "dealership", "source", "campaign", "consultant", "agent", "day", "month"]

# The longest range a request may ask for (a request reads every fact row in it).
MAX_RANGE_DAYS = 1100
# Days a window may hold: a day's bounds in any time zone (offsets under a day) and the day after
# the last must be datetimes (9999-12-31 answered 500: an overflow past the calendar's end).
FIRST_DAY = date(1, 1, 2)
LAST_DAY = date(9999, 12, 30)
TARGET_LEAD_TO_SALE = 0.13  # 13 sales per 100 leads (funnel.md)

# First-attempt latency buckets (upper bounds in seconds; the last is open).
LATENCY_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("< 5 min", 300),
    ("5-15 min", 900),
    ("15-30 min", 1800),
    ("30-60 min", 3600),
    ("1-4 h", 4 * 3600),
    ("4-24 h", 24 * 3600),
    ("1-3 days", 72 * 3600),
    ("> 3 days", None),
)

# Finer bins of the same latency (upper bounds in seconds; the last is open), kept per day in the
# rollups: the buckets above are sums of them, and p50/p90 over more leads than
# EXACT_PERCENTILE_MAX are read from them (interpolated within a bin) instead of every lead.
SPEED_BINS: tuple[float, ...] = (
    30, 60, 90, 120, 180, 240, 300, 360, 420, 480, 600, 720, 900, 1080, 1200, 1500, 1800,
    2100, 2400, 2700, 3000, 3600, 4500, 5400, 7200, 9000, 10800, 14400, 18000, 21600, 28800,
    36000, 43200, 57600, 72000, 86400, 129600, 172800, 259200, 345600, 432000, 604800,
    1209600, 2592000,
)  # fmt: skip
EXACT_PERCENTILE_MAX = 20_000


def bins_of_buckets() -> list[range]:
    """For each of LATENCY_BUCKETS, the SPEED_BINS (indexes) it is made of."""
    out, first = [], 0
    for _label, upper in LATENCY_BUCKETS:
        last = len(SPEED_BINS) if upper is None else SPEED_BINS.index(upper)
        out.append(range(first, last + 1))
        first = last + 1
    return out


def percentile_of_bins(counts: list[int], p: float) -> float | None:
    """`percentile_cont(p)` of latencies known by bin only: each bin's values taken as spread
    evenly over it (the open last bin at its lower bound)."""
    n = sum(counts)
    if not n:
        return None

    def value(rank: int) -> float:  # the rank-th smallest (0-based)
        seen = 0
        for i, c in enumerate(counts):
            if rank < seen + c:
                lower = SPEED_BINS[i - 1] if i else 0.0
                if i == len(SPEED_BINS):
                    return float(lower)
                upper = SPEED_BINS[i]
                return lower + (upper - lower) * (rank - seen + 0.5) / c
            seen += c
        raise AssertionError("rank beyond the counts")

    position = p * (n - 1)
    low = int(position)
    high = min(low + 1, n - 1)
    return value(low) + (value(high) - value(low)) * (position - low)


class BadRequest(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Window:
    first_day: date
    last_day: date  # inclusive
    timezone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), ZoneInfo(self.timezone))

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(), ZoneInfo(self.timezone))


def resolve_window(
    period: Period,
    *,
    today: date,
    timezone: str,
    on: date | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Window:
    """`day`: one day (`on`, default today); `mtd`/`ytd`: from the 1st of the month/year of `on`
    to `on`; `range`: `first` to `last` inclusive."""
    for field, day in (("on", on), ("from", first), ("to", last)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise BadRequest(field, f"must be from {FIRST_DAY} to {LAST_DAY}")
    anchor = on or today
    if period == "day":
        return Window(anchor, anchor, timezone)
    if period == "mtd":
        return Window(anchor.replace(day=1), anchor, timezone)
    if period == "ytd":
        return Window(anchor.replace(month=1, day=1), anchor, timezone)
    if first is None or last is None:
        raise BadRequest("from", "period=range needs both from and to")
    if last < first:
        raise BadRequest("to", "must not be before from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest("to", f"a range is at most {MAX_RANGE_DAYS} days")
    return Window(first, last, timezone)


def month_window(month: str, timezone: str) -> Window:
    """`YYYY-MM` as a window."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise BadRequest("month", "expected YYYY-MM") from None
    if not date(1, 2, 1) <= first <= date(9999, 11, 1):  # whole months within the days
        raise BadRequest("month", "must be from 0001-02 to 9999-11")
    following = (first + timedelta(days=32)).replace(day=1)
    return Window(first, following - timedelta(days=1), timezone)


@dataclass(frozen=True)
class Scope:
    """Who asks and what they filter on: every query is limited to the tenant, and to the
    caller's dealerships unless they may see all of them (None)."""

    tenant_id: str
    dealerships: tuple[str, ...] | None
    dealership: str | None = None
    source: str | None = None
    campaign: str | None = None
    consultant: str | None = None
    agent: str | None = None


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None

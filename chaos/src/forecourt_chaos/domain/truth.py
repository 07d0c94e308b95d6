"""The simulation's own count of what it did, in the metrics API's terms, and the comparison of
the two. Only what a service confirmed (a 2xx answer) is counted; what the services do on their
own as a consequence (recovery's `lead.dead` for a reason it never follows up) is counted from
the rules of docs/events.md. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.contracts.lost_reasons import RecoverPolicy, category_of, lost_reason

INVALID_CATEGORIES = ("pollution", "invalid")


def ratio(part: float, whole: float) -> float | None:
    """As metrics rounds its ratios (4 places)."""
    return round(part / whole, 4) if whole else None


def per(cost: Decimal | None, n: int) -> Decimal | None:
    """As metrics gives a cost per lead or sale: to the cent."""
    return None if cost is None or not n else (cost / n).quantize(Decimal("0.01"))


@dataclass
class SourceTally:
    leads: int = 0
    invalid_leads: int = 0
    duplicates: int = 0
    rejected: int = 0
    prospects: int = 0
    sales: int = 0
    cost: Decimal = Decimal("0.00")


@dataclass
class Truth:
    """Counts as the simulation made them happen."""

    leads: int = 0
    returning: int = 0
    invalid_leads: int = 0
    rejected: int = 0
    duplicates: int = 0
    prospects: int = 0
    reactivated: int = 0
    sales: int = 0
    sales_from_reactivated: int = 0
    recovered_revenue: Decimal = Decimal("0.00")
    dead: int = 0
    # (category, code) -> [lead losses, prospect losses]
    losses: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    bought_elsewhere: set[int] = field(default_factory=set)  # leads (submission index)
    sources: dict[int, SourceTally] = field(default_factory=dict)
    # what the simulation did, by kind: shown beside the KPIs
    actions: Counter[str] = field(default_factory=Counter)

    def _source(self, source: int) -> SourceTally:
        return self.sources.setdefault(source, SourceTally())

    def enquiry(self, source: int, kind: str, cost: Decimal, *, returning: bool = False) -> None:
        s = self._source(source)
        s.cost += cost
        if kind == "lead":
            self.leads += 1
            s.leads += 1
            self.returning += returning
        elif kind == "duplicate":
            self.duplicates += 1
            s.duplicates += 1
        else:
            self.rejected += 1
            s.rejected += 1

    def _loss(self, lead: int, code: str, origin: int) -> None:
        category = str(category_of(code))
        self.losses.setdefault((category, code), [0, 0])[origin] += 1
        if category == "bought_elsewhere":
            self.bought_elsewhere.add(lead)
        if lost_reason(code).recover in (RecoverPolicy.NO, RecoverPolicy.NEVER):
            self.dead += 1  # recovery ends the run at once with lead.dead

    def lead_lost(self, lead: int, source: int, code: str) -> None:
        self._loss(lead, code, 0)
        if str(category_of(code)) in INVALID_CATEGORIES:
            self.invalid_leads += 1
            self._source(source).invalid_leads += 1

    def prospect_lost(self, lead: int, code: str) -> None:
        self._loss(lead, code, 1)

    def qualified(self, source: int) -> None:
        self.prospects += 1
        self._source(source).prospects += 1

    def won(self, source: int, price: Decimal, *, reactivated: bool) -> None:
        self.sales += 1
        self._source(source).sales += 1
        if reactivated:
            self.sales_from_reactivated += 1
            self.recovered_revenue += price

    def recovery(self, lead: int, outcome: str) -> None:
        if outcome == "reactivated":
            self.reactivated += 1
        elif outcome == "bought_elsewhere":
            self.bought_elsewhere.add(lead)
        elif outcome in ("dead", "do_not_contact"):
            self.dead += 1

    # -- the KPIs these counts must give ---------------------------------------------------

    def lost_deals(self) -> int:
        return sum(
            sum(n) for (category, _), n in self.losses.items() if category not in INVALID_CATEGORIES
        )

    def funnel(self) -> dict[str, Any]:
        valid = self.leads - self.invalid_leads
        return {
            "received": self.leads + self.duplicates + self.rejected,
            "leads": self.leads,
            "new_people": self.leads - self.returning,
            "returning": self.returning,
            "invalid_leads": self.invalid_leads,
            "valid_leads": valid,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "prospects": self.prospects,
            "reactivated": self.reactivated,
            "sales": self.sales,
            "sales_from_reactivated": self.sales_from_reactivated,
            "lead_to_prospect": ratio(self.prospects, valid),
            "prospect_to_sale": ratio(self.sales, self.prospects),
            "lead_to_sale": ratio(self.sales, valid),
        }

    def lost_reasons(self) -> dict[str, Any]:
        total = sum(sum(n) for n in self.losses.values())
        out: dict[str, Any] = {"losses": total}
        for (_, code), (lead, prospect) in sorted(self.losses.items()):
            out[f"{code} (leads)"] = lead
            out[f"{code} (prospects)"] = prospect
        return out

    def recovery_report(self, currency: str) -> dict[str, Any]:
        lost = self.lost_deals()
        revenue = (
            f"{_decimal(self.recovered_revenue)} {currency} ({self.sales_from_reactivated})"
            if self.sales_from_reactivated
            else "-"
        )
        return {
            "lost_deals": lost,
            "reactivations": self.reactivated,
            "reactivation_rate": ratio(self.reactivated, lost),
            "sales_from_reactivated": self.sales_from_reactivated,
            "reactivated_sale_share": ratio(self.sales_from_reactivated, self.reactivated),
            "recovered_revenue": revenue,
            "bought_elsewhere": len(self.bought_elsewhere),
            "bought_elsewhere_share": ratio(len(self.bought_elsewhere), lost),
            "dead": self.dead,
            "returning_customers": self.returning,
        }

    def source_rows(self, names: dict[int, str]) -> dict[str, dict[str, Any]]:
        rows = {}
        for index, s in sorted(self.sources.items()):
            delivered = s.leads + s.duplicates + s.rejected
            valid = s.leads - s.invalid_leads
            rows[names[index]] = {
                "delivered": delivered,
                "leads": s.leads,
                "invalid_leads": s.invalid_leads,
                "duplicates": s.duplicates,
                "rejected": s.rejected,
                "prospects": s.prospects,
                "sales": s.sales,
                "duplicate_rate": ratio(s.duplicates, delivered),
                "pollution_rate": ratio(s.rejected + s.invalid_leads, delivered),
                "cost": s.cost,
                "cost_per_lead": per(s.cost, delivered),
                "cost_per_valid_lead": per(s.cost, valid),
                "cost_per_sale": per(s.cost, s.sales),
            }
        return rows


# -- the metrics API's answers in the same shape -------------------------------------------

FUNNEL_FIELDS = tuple(Truth().funnel())
RECOVERY_FIELDS = tuple(Truth().recovery_report("CAD"))
SOURCE_FIELDS = (
    "delivered", "leads", "invalid_leads", "duplicates", "rejected", "prospects", "sales",
    "duplicate_rate", "pollution_rate", "cost", "cost_per_lead", "cost_per_valid_lead",
    "cost_per_sale",
)  # fmt: skip


def measured_funnel(report: dict[str, Any]) -> dict[str, Any]:
    total = report["total"]
    return {k: total[k] for k in FUNNEL_FIELDS}


def measured_lost_reasons(report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"losses": report["losses"]}
    for row in sorted(report["reasons"], key=lambda r: (r["category"], r["reason_code"])):
        out[f"{row['reason_code']} (leads)"] = row["lead_losses"]
        out[f"{row['reason_code']} (prospects)"] = row["prospect_losses"]
    return out


def measured_recovery(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: report[k] for k in RECOVERY_FIELDS if k != "recovered_revenue"}
    money = report["recovered_revenue"]
    out["recovered_revenue"] = (
        "; ".join(f"{_decimal(m['amount'])} {m['currency']} ({m['sales']})" for m in money)
        if money
        else "-"
    )
    return {k: out[k] for k in RECOVERY_FIELDS}


def _decimal(value: Any) -> Any:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def measured_sources(report: dict[str, Any], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Rows keyed by source name (`names`: source id -> name)."""
    rows = {}
    for row in report["sources"]:
        name = names.get(row["source_id"], row["source_id"])
        rows[name] = {
            k: (_decimal(row[k]) if k.startswith("cost") else row[k]) for k in SOURCE_FIELDS
        }
    return rows


@dataclass(frozen=True)
class Line:
    report: str
    name: str
    measured: Any
    expected: Any

    @property
    def equal(self) -> bool:
        if isinstance(self.expected, Decimal) or isinstance(self.measured, Decimal):
            return bool(_decimal(self.measured) == _decimal(self.expected))
        return bool(self.measured == self.expected)


def compare(report: str, measured: dict[str, Any], expected: dict[str, Any]) -> list[Line]:
    """Every key of either side, in the expected order first."""
    keys = list(expected) + [k for k in measured if k not in expected]
    return [Line(report, k, measured.get(k, 0), expected.get(k, 0)) for k in keys]

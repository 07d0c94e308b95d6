"""A realistic dealer group for `forecourt simulate`: dealerships, lead sources with their cost
per lead, CRM agents and sales consultants, all derived from a seed (the same seed, the same
group). Pure: no I/O; `service_layer.simulate` creates it through the services' admin APIs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

CITIES = (
    "Toronto", "Mississauga", "Brampton", "Hamilton", "Oakville", "Burlington", "Markham",
    "Vaughan", "Richmond Hill", "Oshawa", "Whitby", "Ajax", "Pickering", "Milton", "Guelph",
    "Kitchener", "Waterloo", "Cambridge", "London", "Barrie", "Newmarket", "Aurora",
)  # fmt: skip
BRANDS = ("Toyota", "Honda", "Ford", "Hyundai", "Chevrolet", "Mazda", "RAM")
# name, kind, cost per lead (CAD), how leads arrive ("json" or "adf"), share of the leads.
SOURCES: tuple[tuple[str, str, str, str, float], ...] = (
    ("Group website", "website", "0.00", "json", 14),
    ("AutoTrader.ca", "marketplace", "18.50", "adf", 12),
    ("CarGurus", "marketplace", "22.00", "adf", 10),
    ("Kijiji Autos", "marketplace", "9.00", "json", 8),
    ("OEM brand site", "oem", "25.00", "adf", 8),
    ("Facebook Marketplace", "marketplace", "7.50", "json", 7),
    ("Website chat", "chat", "3.00", "json", 7),
    ("Call tracking", "phone", "5.00", "json", 6),
    ("Google Ads landing page", "website", "31.00", "json", 6),
    ("TrueCar", "marketplace", "28.00", "adf", 5),
    ("DealerRater", "marketplace", "15.00", "json", 4),
    ("Spring auto show", "event", "40.00", "json", 4),
    ("Conquest list", "list", "2.50", "json", 4),
    ("Car and Driver", "marketplace", "20.00", "adf", 3),
    ("Referral programme", "website", "50.00", "json", 2),
)
TIMEZONE = "America/Toronto"
CURRENCY = "CAD"
# Open prospects a consultant may hold: above the default 25, so a scaled-down group (a few
# consultants per dealership) still takes every prospect at once.
CONSULTANT_CAP = 60


@dataclass(frozen=True)
class Dealership:
    key: str  # the simulation's own name for it; the id comes from intake
    name: str
    brand: str


@dataclass(frozen=True)
class Source:
    key: str
    name: str
    kind: str
    cost_per_lead: Decimal
    way: str  # "json" or "adf"
    weight: float
    dealership: int  # index of its default dealership


@dataclass(frozen=True)
class Staff:
    id: str  # token subject; for consultants also their consultant id
    name: str
    dealership: int


@dataclass(frozen=True)
class GroupShape:
    dealerships: int = 12
    sources: int = 15
    agents: int = 30
    consultants: int = 120

    def __post_init__(self) -> None:
        if not 1 <= self.sources <= len(SOURCES):
            raise ValueError(f"sources: 1 to {len(SOURCES)}")
        if self.dealerships < 1:
            raise ValueError("dealerships: at least 1")
        if self.agents < self.dealerships or self.consultants < self.dealerships:
            raise ValueError("at least one agent and one consultant per dealership")


@dataclass(frozen=True)
class DealerGroup:
    tenant: str
    dealerships: tuple[Dealership, ...]
    sources: tuple[Source, ...]
    agents: tuple[Staff, ...]
    consultants: tuple[Staff, ...]
    ids: dict[str, str] = field(default_factory=dict, compare=False)  # key -> service id

    def agents_of(self, dealership: int) -> list[Staff]:
        return [a for a in self.agents if a.dealership == dealership]

    def consultants_of(self, dealership: int) -> list[Staff]:
        return [c for c in self.consultants if c.dealership == dealership]


FIRST = ("Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kaia",
         "Luis", "Mei", "Nico", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tess")  # fmt: skip
LAST = ("Ahmed", "Bouchard", "Chen", "Dubois", "Evans", "Fortin", "Gill", "Hall", "Ito",
        "Jensen", "Khan", "Lavoie", "Morin", "Novak", "Ortiz", "Park")  # fmt: skip


def build_group(seed: int, tenant: str, shape: GroupShape) -> DealerGroup:
    rng = random.Random(f"{seed}-group")
    cities = rng.sample(CITIES, min(shape.dealerships, len(CITIES)))
    dealerships = tuple(
        Dealership(
            key=f"d{i}",
            name=f"{cities[i % len(cities)]} {brand}{'' if i < len(cities) else f' {i}'}",
            brand=brand,
        )
        for i in range(shape.dealerships)
        for brand in [BRANDS[i % len(BRANDS)]]
    )
    sources = tuple(
        Source(f"s{i}", name, kind, Decimal(cost), way, weight, i % shape.dealerships)
        for i, (name, kind, cost, way, weight) in enumerate(SOURCES[: shape.sources])
    )

    def staff(prefix: str, n: int) -> tuple[Staff, ...]:
        # Spread evenly: every dealership has at least one.
        return tuple(
            Staff(
                f"{prefix}-{i + 1:03d}",
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                i % len(dealerships),
            )
            for i in range(n)
        )

    return DealerGroup(
        tenant, dealerships, sources, staff("agent", shape.agents), staff("cons", shape.consultants)
    )

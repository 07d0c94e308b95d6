"""The leads a run sends: seeded, over many tenants and every way in, some of them repeats.

Every lead has its own idempotency key (the same on each retry) and is about one person; a
repeat is a later lead of a person already planned for the same tenant, with a key of its own,
which intake must merge into that person's lead (`lead.duplicate`). People come from the
benchmarks' generator: distinct emails and valid Canadian phone numbers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from forecourt_chaos import repo

repo.importable()
from bench.intake.data import Person, json_lead, people  # noqa: E402

WAYS = ("json", "adf", "csv", "amqp")
DEFAULT_MIX: Mapping[str, float] = {"json": 0.4, "adf": 0.15, "csv": 0.25, "amqp": 0.2}


@dataclass(frozen=True)
class PlannedLead:
    key: str
    tenant: str
    person: Person
    fields: dict[str, Any]  # the lead as `POST /v1/leads` takes it

    @property
    def email(self) -> str:
        return self.person.email


@dataclass(frozen=True)
class Batch:
    """What one request carries: one lead, or for `csv` a file of several of one tenant."""

    way: str
    tenant: str
    leads: tuple[PlannedLead, ...]


class Plan:
    def __init__(
        self,
        seed: int,
        run: str,
        tenants: list[str],
        *,
        mix: Mapping[str, float] = DEFAULT_MIX,
        repeat_ratio: float = 0.1,
        csv_rows: tuple[int, int] = (5, 40),
    ) -> None:
        unknown = set(mix) - set(WAYS)
        if unknown or not any(mix.values()):
            raise ValueError(f"mix: ways are {', '.join(WAYS)}, with a weight above 0")
        self._rng = random.Random(seed)
        self._run = run
        self._tenants = tenants
        self._ways = [w for w in mix if mix[w] > 0]
        # The mix is of leads: a CSV batch carries many, so it is picked that much less often.
        mean_rows = (csv_rows[0] + csv_rows[1]) / 2
        self._weights = [mix[w] / (mean_rows if w == "csv" else 1) for w in self._ways]
        self._repeat_ratio = repeat_ratio
        self._csv_rows = csv_rows
        self._fresh = people(run, 0)
        self._seen: dict[str, list[Person]] = {t: [] for t in tenants}
        self._count = 0

    def _lead(self, tenant: str) -> PlannedLead:
        seen = self._seen[tenant]
        if seen and self._rng.random() < self._repeat_ratio:
            person = self._rng.choice(seen)
        else:
            person = next(self._fresh)
            seen.append(person)
        self._count += 1
        key = f"{self._run}-{self._count:07d}"
        return PlannedLead(key, tenant, person, json_lead(person, self._rng))

    def batches(self, total: int) -> Iterator[Batch]:
        """Batches until `total` leads are planned (the last CSV file may be shorter)."""
        planned = 0
        while planned < total:
            way = self._rng.choices(self._ways, self._weights)[0]
            tenant = self._rng.choice(self._tenants)
            size = self._rng.randint(*self._csv_rows) if way == "csv" else 1
            size = min(size, total - planned)
            yield Batch(way, tenant, tuple(self._lead(tenant) for _ in range(size)))
            planned += size

    def probe(self, tenant: str) -> PlannedLead:
        """A lead of a new person, for a recovery probe."""
        person = next(self._fresh)
        self._seen[tenant].append(person)
        self._count += 1
        return PlannedLead(
            f"{self._run}-probe-{self._count:07d}", tenant, person, json_lead(person, self._rng)
        )

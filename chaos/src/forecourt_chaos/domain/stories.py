"""What happens to every lead of a simulation, decided up front from the seed: the day it
arrives, from which source and how (JSON or ADF), whether intake must reject it (a test lead,
no usable contact), merge it (the customer asking again while their lead is in first contact)
or link it to an earlier closed lead (a customer coming back after buying); what the CRM agent
does with it on which days (attempts, then qualify or write off with a coded reason, respecting
the persistence minimum); what the consultant does with the prospect.

Recovery's follow-ups are decided when they fall due (`recovery_outcome`), from a generator of
their own per lead, so the outcome never depends on the order the services list them in.
Pure: no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from forecourt_chaos import repo
from forecourt_chaos.domain.dealer_group import DealerGroup

repo.importable()
from bench.intake.data import VEHICLES, Person, people, written  # noqa: E402

Kind = Literal["new", "returning", "duplicate", "test", "invalid"]
# ("attempt", channel, outcome) | ("qualify", outcome) | ("lose", reason code)
Op = tuple[str, ...]

# Shares of the enquiries (the rest are new leads).
TEST_SHARE, INVALID_SHARE, DUPLICATE_SHARE, RETURNING_SHARE = 0.02, 0.02, 0.09, 0.02
NO_PHONE_SHARE = 0.02  # new leads without a phone: written off as pollution.no_phone
# What the CRM agent makes of a lead, by weight.
CRM_FATES: tuple[tuple[str, float], ...] = (
    ("qualify", 44),
    ("open", 4),  # still in the agents' queue when the simulation ends
    ("not_reached.max_attempts", 9),
    ("not_reached.refused_call", 3),
    ("no_interest.bought_other_car", 3),
    ("no_interest.trade_in_only", 2),
    ("no_interest.other_car", 3),
    ("no_interest.contacted_dealer", 2),
    ("no_interest.self_visit", 3),
    ("no_interest.do_not_contact", 2),
    ("no_interest.follow_up", 6),
    ("bought_elsewhere.same_brand", 2),
    ("bought_elsewhere.other_brand", 2),
    ("pollution.test", 2),
    ("pollution.duplicate", 2),
    ("pollution.not_for_bdc", 1),
    ("invalid.personal_data", 2),
)
QUALIFYING = ("appointment.showroom", "appointment.test_drive", "quotation.requested")
# What the consultant makes of a prospect, by weight ("open": still working it at the end).
PROSPECT_FATES: tuple[tuple[str, float], ...] = (
    ("win", 38),
    ("prospect.price", 18),
    ("prospect.postponed", 12),
    ("bought_elsewhere.other_brand", 10),
    ("bought_elsewhere.same_brand", 5),
    ("no_interest.other_car", 5),
    ("open", 12),
)
# A reactivated (hot) prospect: sold more often, and quickly.
HOT_FATES: tuple[tuple[str, float], ...] = (("win", 45), ("prospect.price", 35), ("open", 20))
# A follow-up due in recovery, by weight: the first step, and any later one.
RECOVERY_FIRST: tuple[tuple[str, float], ...] = (
    ("reactivated", 22),
    ("bought_elsewhere", 10),
    ("dead", 13),
    ("no_answer", 55),
)
RECOVERY_LATER: tuple[tuple[str, float], ...] = (
    ("reactivated", 30),
    ("bought_elsewhere", 20),
    ("dead", 50),
)
COMPETITORS = ("BMW", "Kia", "Subaru", "Nissan", "Volkswagen")


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


@dataclass(frozen=True)
class Calendar:
    """Simulated days: day 0 is `start`. Dealerships open Monday to Saturday; leads arrive
    every day, and the CRM department and consultants work on opening days."""

    start: date
    days: int

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day)

    def is_workday(self, day: int) -> bool:
        return self.date_of(day).weekday() != 6  # Sunday

    def workday(self, day: int) -> int:
        """The first opening day on or after `day`."""
        while not self.is_workday(day):
            day += 1
        return day


@dataclass(frozen=True)
class CrmStep:
    day: int
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class ProspectPlan:
    close_day: int | None  # None: still open at the end
    action: str  # "win", a lost reason code, or "open"
    price: Decimal | None = None


@dataclass
class Submission:
    index: int
    day: int
    kind: Kind
    source: int
    dealership: int
    way: str  # "json" or "adf"
    person: Person | None
    fields: dict[str, Any]
    original: int | None = None  # the lead repeated (duplicate) or come back after (returning)
    agent: str | None = None
    crm: tuple[CrmStep, ...] = ()
    fate: str = "open"
    prospect: ProspectPlan | None = None

    @property
    def is_lead(self) -> bool:
        return self.kind in ("new", "returning")

    @property
    def idempotency_key(self) -> str:
        return f"sim-{self.index:06d}"

    def first_step_day(self) -> int | None:
        return self.crm[0].day if self.crm else None

    def qualify_day(self) -> int | None:
        for step in self.crm:
            if any(op[0] == "qualify" for op in step.ops):
                return step.day
        return None


@dataclass
class Plan:
    seed: int
    calendar: Calendar
    submissions: list[Submission] = field(default_factory=list)

    def of_day(self, day: int) -> list[Submission]:
        return [s for s in self.submissions if s.day == day]


def _vehicle(rng: random.Random, brand: str) -> dict[str, Any]:
    # A store's leads are mostly for its own brand; a few for a used car of another.
    if rng.random() < 0.8:
        make, models = next((m, ms) for m, ms in VEHICLES if m == brand)
        condition = "New"
    else:
        make, models = rng.choice(VEHICLES)
        condition = "Used"
    return {
        "year": str(rng.randint(2019, 2026)),
        "make": make,
        "model": rng.choice(models),
        "condition": condition,
    }


COMMENTS = (
    "Is it still available? I would like to book a test drive.",
    "What is your best price out the door?",
    "Do you take trade-ins? I have a 2017 Civic.",
    "Please call me after 6pm.",
    "Looking for financing options.",
    "",
)


def _fields(rng: random.Random, person: Person, brand: str, campaign: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "phone": written(person.phone, rng.randrange(4)),
        "vehicle": _vehicle(rng, brand),
        "campaign": campaign,
        "consent": {"email": True, "phone": True, "sms": True},
    }
    if comment := rng.choice(COMMENTS):
        fields["comments"] = comment
    return fields


def _crm_steps(cal: Calendar, rng: random.Random, day: int, fate: str) -> tuple[CrmStep, ...]:
    first = cal.workday(day + (1 if fate.startswith(("pollution", "invalid")) else 0))
    if fate == "open":
        return ()
    if fate == "qualify":
        reach = ("attempt", rng.choice(("call", "sms")), "reached")
        return (CrmStep(first, (reach, ("qualify", rng.choice(QUALIFYING)))),)
    if fate.startswith("not_reached."):
        # The dealership's persistence minimum in full: 6 attempts on 3 days, the first and
        # the last 5 days apart, on 2 channels (refused_call: the last one reached them).
        second = cal.workday(first + 2)
        third = cal.workday(first + 5)
        last = "reached" if fate == "not_reached.refused_call" else "voicemail"
        return (
            CrmStep(first, (("attempt", "call", "no_answer"), ("attempt", "email", "no_answer"))),
            CrmStep(second, (("attempt", "call", "voicemail"), ("attempt", "sms", "no_answer"))),
            CrmStep(
                third,
                (("attempt", "call", "no_answer"), ("attempt", "call", last), ("lose", fate)),
            ),
        )
    if fate.startswith(("pollution", "invalid")):
        return (CrmStep(first, (("lose", fate),)),)
    # no_interest.*, bought_elsewhere.*: the customer was reached.
    return (CrmStep(first, (("attempt", "call", "reached"), ("lose", fate))),)


def _prospect(cal: Calendar, rng: random.Random, day: int) -> ProspectPlan:
    action = pick(rng, PROSPECT_FATES)
    if action == "open":
        return ProspectPlan(None, action)
    price = (
        Decimal(rng.randrange(24_000, 72_000, 10)) + Decimal("0.99") if action == "win" else None
    )
    return ProspectPlan(cal.workday(day + rng.randint(1, 6)), action, price)


def hot_prospect(seed: int, index: int, cal: Calendar, day: int) -> ProspectPlan:
    """What the consultant makes of lead `index`'s prospect reactivated on `day`."""
    rng = random.Random(f"{seed}-hot-{index}")
    action = pick(rng, HOT_FATES)
    if action == "open":
        return ProspectPlan(None, action)
    price = (
        Decimal(rng.randrange(24_000, 72_000, 10)) + Decimal("0.99") if action == "win" else None
    )
    return ProspectPlan(cal.workday(day + rng.randint(1, 3)), action, price)


def recovery_outcome(seed: int, index: int, run: int, step: int) -> str:
    """The outcome of follow-up `step` of lead `index`'s `run`-th recovery run (0: after its
    first loss). A second run (a reactivated prospect lost again) is not followed further."""
    if run > 0:
        return "dead"
    rng = random.Random(f"{seed}-recovery-{index}-{step}")
    return pick(rng, RECOVERY_FIRST if step <= 1 else RECOVERY_LATER)


def _open_on(lead: Submission, day: int) -> bool:
    first = lead.first_step_day()
    return first is None or first >= day


def _people() -> Iterator[Person]:
    return people("sim", 0)


def build_plan(seed: int, group: DealerGroup, cal: Calendar, leads: int) -> Plan:
    """`leads` enquiries spread over the calendar's days (a little more on weekdays)."""
    rng = random.Random(f"{seed}-plan")
    fresh = _people()
    plan = Plan(seed, cal)
    weights = [1.2 if cal.date_of(d).weekday() < 5 else 0.7 for d in range(cal.days)]
    per_day = [int(leads * w / sum(weights)) for w in weights]
    for i in range(leads - sum(per_day)):
        per_day[i % cal.days] += 1
    source_weights = [s.weight for s in group.sources]
    open_leads: list[Submission] = []  # leads still in first contact, arrived on earlier days
    came_back_ready: list[Submission] = []  # won leads whose person may return
    index = 0
    for day in range(cal.days):
        arrived: list[Submission] = []
        # A lead is open on `day` until its first step is worked (steps on `day` come after
        # the day's enquiries are in).
        open_leads = [s for s in open_leads if _open_on(s, day)]
        ready = [
            s
            for s in came_back_ready
            if s.prospect is not None
            and s.prospect.close_day is not None
            and s.prospect.close_day < day
        ]
        for _ in range(per_day[day]):
            source_i = rng.choices(range(len(group.sources)), source_weights)[0]
            source = group.sources[source_i]
            r = rng.random()
            sub: Submission
            if r < TEST_SHARE:
                person = next(fresh)
                fields = _fields(rng, person, group.dealerships[source.dealership].brand, "web")
                fields |= {"first_name": "Test", "last_name": "Test"}
                sub = Submission(
                    index, day, "test", source_i, source.dealership, "json", None, fields
                )
            elif r < TEST_SHARE + INVALID_SHARE:
                person = next(fresh)
                fields = _fields(rng, person, group.dealerships[source.dealership].brand, "web")
                for name in ("email", "phone"):
                    del fields[name]
                sub = Submission(
                    index, day, "invalid", source_i, source.dealership, "json", None, fields
                )
            elif r < TEST_SHARE + INVALID_SHARE + DUPLICATE_SHARE and open_leads:
                original = rng.choice(open_leads)
                assert original.person is not None
                brand = group.dealerships[original.dealership].brand
                fields = _fields(rng, original.person, brand, "repeat")
                if "phone" not in original.fields:
                    del fields["phone"]
                sub = Submission(
                    index, day, "duplicate", source_i, original.dealership, "json",
                    original.person, fields, original=original.index,
                )  # fmt: skip
            else:
                returning = (
                    r < TEST_SHARE + INVALID_SHARE + DUPLICATE_SHARE + RETURNING_SHARE and ready
                )
                earlier = rng.choice(ready) if returning else None
                if earlier is not None:
                    ready.remove(earlier)
                    came_back_ready.remove(earlier)
                    who = earlier.person
                    dealership = earlier.dealership
                else:
                    who = next(fresh)
                    dealership = rng.randrange(len(group.dealerships))
                if source.way == "adf":  # an ADF lead goes to its source's dealership
                    dealership = source.dealership
                assert who is not None
                brand = group.dealerships[dealership].brand
                fields = _fields(rng, who, brand, source.kind)
                no_phone = earlier is None and rng.random() < NO_PHONE_SHARE
                if no_phone:
                    del fields["phone"]
                sub = Submission(
                    index, day, "returning" if earlier else "new", source_i, dealership,
                    "json" if no_phone else source.way, who, fields,
                    original=earlier.index if earlier else None,
                )  # fmt: skip
                sub.agent = rng.choice(group.agents_of(dealership)).id
                sub.fate = "pollution.no_phone" if no_phone else pick(rng, CRM_FATES)
                sub.crm = _crm_steps(cal, rng, day, sub.fate)
                if sub.fate == "qualify" and (q := sub.qualify_day()) is not None:
                    sub.prospect = _prospect(cal, rng, q)
                    if sub.prospect.action == "win":
                        came_back_ready.append(sub)
                arrived.append(sub)
            plan.submissions.append(sub)
            index += 1
        open_leads += arrived
    return plan

"""Every lead accounted for, the way the RabbitMQ team's Jepsen checker does it.

What the client was told decides what must be found downstream:
- **ok** (a 2xx answer, a publisher confirm): it must be there, exactly once, at every stage;
- **indeterminate** (no definite answer after every retry): it may be there; if it is, once,
  and then it must go all the way like an ok one;
- **failed** (a definite refusal, 4xx): it must not be there.

Then, stage by stage (intake's submissions, its leads, its outbox, the broker, crm-queue's tasks):
- **lost**: something that must be there is not (an acknowledged lead without a submission, a
  lead without its `lead.ingested`, a lead without a crm-queue task, a `lead.duplicate` never
  applied, an enquiry of an open prospect not on it in assignment);
- **duplicated**: something counted twice (two submissions for one idempotency key, two leads
  for one person, two `lead.ingested` for one lead, an event applied twice);
- **unexpected**: something that should not be there at all (never sent, refused, rejected).

Pure functions over what was sent and what was observed: no I/O here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from shared.contracts.lost_reasons import is_recoverable

INGESTED = "lead.ingested"
DUPLICATE = "lead.duplicate"
QUALIFIED = "lead.qualified"
LOST = "lead.lost"
ASSIGNED = "prospect.assigned"
ACCEPTED_OUTCOMES = frozenset({"ingested", "merged"})


class Ack(StrEnum):
    OK = "ok"
    INDETERMINATE = "indeterminate"
    FAILED = "failed"


@dataclass(frozen=True)
class SentLead:
    key: str  # the idempotency key, unique per lead sent (the same on every retry)
    tenant: str
    person: str  # who the lead is about: repeats of one person share it (their email)
    way: str  # json | adf | csv | amqp | probe
    ack: Ack


@dataclass(frozen=True)
class Submission:
    """intake's record of one lead received (`submission`), its key without intake's prefix."""

    key: str
    tenant: str
    outcome: str  # ingested | merged | rejected
    lead_id: str | None
    # A merged enquiry intake found later to have come after its lead closed: the new lead it
    # became (its first enquiry), or joined as a repeat.
    promoted_to: str | None = None


@dataclass(frozen=True)
class Lead:
    lead_id: str
    tenant: str
    person: str


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str  # without the version: lead.ingested
    lead_id: str
    published: bool = True  # for an outbox row: confirmed by the broker
    at: datetime | None = None  # a lead event's `received_at` (when the enquiry was made)
    # lead.duplicate: the enquiry (intake may publish one twice: as a first-contact repeat,
    # then for the consultant) and whose it is (first_contact: crm-queue's; prospect:
    # assignment's). None: one enquiry per event, first contact.
    enquiry_id: str | None = None
    stage: str | None = None

    @property
    def enquiry(self) -> str:
        return self.enquiry_id or self.event_id

    @property
    def for_prospect(self) -> bool:
        return self.stage == "prospect"


@dataclass(frozen=True)
class Task:
    lead_id: str
    tenant: str
    ingested: bool
    enquiries: int
    state: str = "open"  # open | pool | qualified | lost
    outcome: str | None = None  # the qualifying outcome or the lost reason code
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Fact:
    """metrics' row of one lead (`lead_fact`): which of its events it counted."""

    lead_id: str
    ingested: bool  # received_at set
    qualified: bool
    lost: bool


@dataclass
class Downstream:
    """What the services after crm-queue hold, one list entry per record (so a record kept
    twice shows twice). None: that service did not run."""

    crm_events: list[Event] = field(default_factory=list)  # crm-queue's lead.qualified/lost
    prospects: list[str] | None = None  # assignment: a lead id per prospect row
    assigned: list[Event] | None = None  # assignment: its prospect.assigned outbox rows
    recoveries: list[str] | None = None  # recovery: a lead id per recovery of a lead's loss
    facts: list[Fact] | None = None  # metrics: lead_fact rows
    losses: list[str] | None = None  # metrics: a lead id per loss_fact row of a lead's loss
    merges: list[str] | None = None  # metrics: a lead id per intake_fact row of a merge
    # assignment: (lead id, enquiry id) per activity of kind enquiry
    enquiries: list[tuple[str, str]] | None = None


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    reason: str
    key: str | None = None  # a raw lead's message id
    lead_id: str | None = None  # an event's lead
    event_type: str | None = None


@dataclass
class Observed:
    submissions: list[Submission] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    outbox: list[Event] = field(default_factory=list)  # intake's lead events
    broker: list[Event] | None = None  # the same events as read back from the broker
    tasks: list[Task] | None = None  # None: crm-queue did not run
    # crm-queue's inbox: event id -> when it was consumed (in order), to say why a count is off
    consumed: dict[str, datetime] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    downstream: Downstream = field(default_factory=Downstream)


Kind = Literal["lost", "duplicated", "unexpected"]


@dataclass(frozen=True)
class Problem:
    kind: Kind
    stage: str  # e.g. "crm-queue: no task"
    subject: str  # the idempotency key or the lead id
    detail: str = ""


@dataclass
class Accounting:
    sent: int = 0
    acks: Counter[str] = field(default_factory=Counter)
    ways: Counter[str] = field(default_factory=Counter)
    indeterminate_recorded: int = 0
    leads: int = 0
    merges: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)  # by queue
    problems: list[Problem] = field(default_factory=list)
    # Records after crm-queue: "qualified", "written off", "prospects", "recoveries", ...
    downstream: Counter[str] = field(default_factory=Counter)

    def of(self, kind: Kind) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    @property
    def lost(self) -> int:
        return len({p.subject for p in self.of("lost")})

    @property
    def duplicated(self) -> int:
        return len({p.subject for p in self.of("duplicated")})

    @property
    def unexpected(self) -> int:
        return len({p.subject for p in self.of("unexpected")})

    @property
    def passed(self) -> bool:
        return not self.lost and not self.duplicated

    def by_stage(self) -> Counter[tuple[str, str]]:
        return Counter((p.kind, p.stage) for p in self.problems)


class _Reporter(Protocol):
    def __call__(self, kind: Kind, stage: str, subject: str, detail: str = "") -> None: ...


class _Letters:
    """Where a lost thing was dead-lettered, if it was, to say so in the problem."""

    def __init__(self, letters: Iterable[DeadLetter]) -> None:
        self._by: dict[str, list[DeadLetter]] = defaultdict(list)
        for letter in letters:
            for subject in (letter.key, letter.lead_id):
                if subject:
                    self._by[subject].append(letter)

    def note(self, subject: str) -> str:
        found = self._by.get(subject, [])
        return "; ".join(f"dead-lettered in {d.queue} ({d.reason})" for d in found)


def account(sent: Iterable[SentLead], observed: Observed) -> Accounting:
    """Classify every lead sent against what the services and the broker hold."""
    sent = list(sent)
    result = Accounting(sent=len(sent))
    result.acks.update(s.ack.value for s in sent)
    result.ways.update(s.way for s in sent)
    result.dead_letters.update(d.queue for d in observed.dead_letters)
    letters = _Letters(observed.dead_letters)

    def problem(kind: Kind, stage: str, subject: str, detail: str = "") -> None:
        note = letters.note(subject) if kind == "lost" else ""
        detail = "; ".join(x for x in (detail, note) if x)
        result.problems.append(Problem(kind, stage, subject, detail))

    accepted = _submissions(problem, sent, observed.submissions, result)
    leads = {lead.lead_id: lead for lead in observed.leads}
    # A person asking again after their lead was lost, or their prospect closed, gets a new lead
    # (docs/events.md); while it is an open prospect the enquiry merges into it.
    closed = {t.lead_id for t in observed.tasks or [] if t.state in ("lost", "qualified")}
    merges = _leads(problem, sent, observed.leads, leads, accepted, closed)
    result.leads = len(leads)
    result.merges = sum(merges.values())
    _outbox(problem, observed.outbox, leads, merges)
    if observed.broker is not None:
        _broker(problem, observed.outbox, observed.broker)
    if observed.tasks is not None:
        _tasks(problem, observed, leads, merges)
        _downstream(problem, observed.tasks, observed.downstream, leads, merges)
        result.downstream = _downstream_counts(observed.tasks, observed.downstream)
    if observed.downstream.enquiries is not None:
        _enquiries(problem, observed.outbox, observed.downstream.enquiries)
        result.downstream["assignment enquiries"] = len(observed.downstream.enquiries)
    return result


def _submissions(
    problem: _Reporter, sent: list[SentLead], submissions: list[Submission], result: Accounting
) -> list[Submission]:
    """One submission per key sent, as the answer allows; returns the accepted ones."""
    by_key: dict[str, list[Submission]] = defaultdict(list)
    for sub in submissions:
        by_key[sub.key].append(sub)
    sent_keys = {s.key for s in sent}
    for key, subs in by_key.items():
        if key not in sent_keys:
            problem("unexpected", "intake: submission never sent", key)
        elif len(subs) > 1:
            problem("duplicated", "intake: two submissions for one key", key, f"{len(subs)}")
    accepted: list[Submission] = []
    for lead in sent:
        subs = by_key.get(lead.key, [])
        if not subs:
            if lead.ack is Ack.OK:
                problem("lost", "intake: no submission", lead.key, f"{lead.way}, {lead.tenant}")
            continue
        if lead.ack is Ack.FAILED:
            problem("unexpected", "intake: kept a lead it refused", lead.key, lead.way)
        elif lead.ack is Ack.INDETERMINATE:
            result.indeterminate_recorded += 1
        if subs[0].outcome in ACCEPTED_OUTCOMES:
            accepted.append(subs[0])
        else:  # every lead sent is valid: a rejection is a wrong answer
            problem("unexpected", f"intake: {subs[0].outcome}", lead.key, lead.way)
    return accepted


def _leads(
    problem: _Reporter,
    sent: list[SentLead],
    observed: list[Lead],
    leads: dict[str, Lead],
    accepted: list[Submission],
    closed: set[str],
) -> Counter[str]:
    """One open lead per person (a person whose lead was written off or qualified may come
    back as a new lead), the lead of every accepted submission; returns merges per lead."""
    people = {(s.tenant, s.person) for s in sent}
    by_person: dict[tuple[str, str], list[str]] = defaultdict(list)
    for lead in observed:
        if (lead.tenant, lead.person) not in people:
            problem("unexpected", "intake: lead of nobody sent", lead.lead_id)
        by_person[(lead.tenant, lead.person)].append(lead.lead_id)
    for (_, person), ids in by_person.items():
        for lead_id in [i for i in ids if i not in closed][1:]:
            problem("duplicated", "intake: two leads for one person", lead_id, person)
    merges: Counter[str] = Counter()
    promoted: Counter[str] = Counter()
    for sub in accepted:
        if sub.lead_id is None or sub.lead_id not in leads:
            problem("lost", "intake: submission without its lead", sub.key, str(sub.lead_id))
        elif sub.outcome == "merged":
            merges[sub.lead_id] += 1
            if sub.promoted_to is not None:
                promoted[sub.promoted_to] += 1
    # Enquiries promoted to a lead are its repeats, but for the first of a lead they made.
    own = {sub.lead_id for sub in accepted if sub.outcome == "ingested"}
    for lead_id, n in promoted.items():
        merges[lead_id] += n if lead_id in own else n - 1
    return merges


def _outbox(
    problem: _Reporter, events: list[Event], leads: dict[str, Lead], merges: Counter[str]
) -> None:
    """One lead.ingested per lead and one lead.duplicate per merge (per enquiry: one published
    again for the consultant is the same merge), each published."""
    ingested: dict[str, set[str]] = defaultdict(set)
    duplicates: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.event_type == INGESTED:
            ingested[event.lead_id].add(event.event_id)
        elif event.event_type == DUPLICATE:
            duplicates[event.lead_id].add(event.enquiry)
        if not event.published:
            problem("lost", "intake: event stuck in the outbox", event.lead_id, event.event_type)
    for lead_id in leads:
        n = len(ingested.get(lead_id, ()))
        if n == 0:
            problem("lost", "intake: no lead.ingested", lead_id)
        elif n > 1:
            problem("duplicated", "intake: two lead.ingested for one lead", lead_id, f"{n}")
        d, m = len(duplicates.get(lead_id, ())), merges[lead_id]
        if d < m:
            problem("lost", "intake: merge without lead.duplicate", lead_id, f"{d} of {m}")
        elif d > m:
            problem("duplicated", "intake: more lead.duplicate than merges", lead_id, f"{d}/{m}")
    for lead_id in (ingested.keys() | duplicates.keys()) - leads.keys():
        problem("unexpected", "intake: event of no lead", lead_id)


def _broker(problem: _Reporter, outbox: list[Event], broker: list[Event]) -> None:
    """Every event the broker confirmed to intake was routed to the audit queue."""
    on_broker = {e.event_id for e in broker}
    in_outbox = {e.event_id for e in outbox}
    for event in outbox:
        if event.published and event.event_id not in on_broker:
            detail = f"{event.event_type} {event.event_id}"
            problem("lost", "broker: confirmed event not delivered", event.lead_id, detail)
    for event in broker:
        if event.event_id not in in_outbox:
            problem("unexpected", "broker: event intake never wrote", event.lead_id)


def _tasks(
    problem: _Reporter, observed: Observed, leads: dict[str, Lead], merges: Counter[str]
) -> None:
    """A crm-queue task per lead that saw its lead.ingested and each first-contact
    lead.duplicate once (an enquiry for the consultant is not crm-queue's)."""
    assert observed.tasks is not None
    tasks = {t.lead_id: t for t in observed.tasks}
    events: dict[str, list[Event]] = defaultdict(list)
    for event in observed.outbox:
        events[event.lead_id].append(event)
    for lead_id in leads:
        task = tasks.get(lead_id)
        if task is None:
            problem("lost", "crm-queue: no task", lead_id)
            continue
        # An enquiry made after the close is not counted.
        repeats = {
            e.enquiry
            for e in events[lead_id]
            if e.event_type == DUPLICATE
            and not e.for_prospect
            and (task.closed_at is None or e.at is None or e.at <= task.closed_at)
        }
        expected = 1 + len(repeats)
        seen = f"enquiries {task.enquiries}, expected {expected}"
        if task.enquiries != expected and observed.consumed:
            seen += "; " + _consumption(events[lead_id], observed.consumed)
        if not task.ingested:
            problem("lost", "crm-queue: task never got lead.ingested", lead_id, seen)
        elif task.enquiries < expected:
            problem("lost", "crm-queue: lead.duplicate not applied", lead_id, seen)
        elif task.enquiries > expected:
            problem("duplicated", "crm-queue: event applied twice", lead_id, seen)
    for lead_id in tasks.keys() - leads.keys():
        problem("unexpected", "crm-queue: task of no intake lead", lead_id)


def _enquiries(problem: _Reporter, outbox: list[Event], found: list[tuple[str, str]]) -> None:
    """Each enquiry intake merged into an open prospect is one activity on it in assignment."""
    expected = {
        (e.lead_id, e.enquiry) for e in outbox if e.event_type == DUPLICATE and e.for_prospect
    }
    counts = Counter(found)
    for lead_id, enquiry in sorted(expected):
        n = counts[(lead_id, enquiry)]
        if n == 0:
            problem("lost", "assignment: enquiry not on the prospect", lead_id, enquiry)
        elif n > 1:
            problem("duplicated", "assignment: enquiry twice", lead_id, f"{enquiry} {n}")
    for lead_id, enquiry in sorted(counts.keys() - expected):
        problem("unexpected", "assignment: enquiry intake never sent", lead_id, enquiry)


def _consumption(events: list[Event], consumed: dict[str, datetime]) -> str:
    """The lead's events in the order crm-queue consumed them, e.g.
    "consumed: lead.duplicate, lead.ingested" or "never consumed: lead.duplicate"."""
    taken = sorted((consumed[e.event_id], e.event_type) for e in events if e.event_id in consumed)
    missing = [e.event_type for e in events if e.event_id not in consumed]
    parts = []
    if taken:
        parts.append("consumed in order: " + ", ".join(kind for _, kind in taken))
    if missing:
        parts.append("never consumed: " + ", ".join(missing))
    return "; ".join(parts)


def _downstream_counts(tasks: list[Task], seen: Downstream) -> Counter[str]:
    counts: Counter[str] = Counter()
    counts["crm-queue qualified"] = sum(t.state == "qualified" for t in tasks)
    counts["crm-queue written off"] = sum(t.state == "lost" for t in tasks)
    for name, records in (
        ("assignment prospects", seen.prospects),
        ("recovery runs", seen.recoveries),
        ("metrics lead facts", seen.facts),
        ("metrics losses", seen.losses),
    ):
        if records is not None:
            counts[name] = len(records)
    return counts


def _count(
    problem: _Reporter,
    stage: str,
    expected: Iterable[str],
    found: Iterable[str],
    *,
    what: str,
) -> None:
    """Each expected lead found exactly once; nothing found that was not expected."""
    counts = Counter(found)
    expected = set(expected)
    for lead_id in expected:
        n = counts[lead_id]
        if n == 0:
            problem("lost", f"{stage}: no {what}", lead_id)
        elif n > 1:
            problem("duplicated", f"{stage}: {what} twice", lead_id, f"{n}")
    for lead_id in counts.keys() - expected:
        problem("unexpected", f"{stage}: {what} of no such lead", lead_id)


def _downstream(
    problem: _Reporter,
    tasks: list[Task],
    seen: Downstream,
    leads: dict[str, Lead],
    merges: Counter[str],
) -> None:
    """After crm-queue: every task it qualified (lost) gave one lead.qualified (lead.lost),
    assignment one prospect for each qualified lead, recovery one schedule for each loss it
    follows up, and metrics counted every lead, merge, qualification and loss once."""
    qualified = {t.lead_id for t in tasks if t.state == "qualified"}
    lost = {t.lead_id for t in tasks if t.state == "lost"}
    recoverable = {
        t.lead_id for t in tasks if t.state == "lost" and t.outcome and is_recoverable(t.outcome)
    }
    for kind, closed in ((QUALIFIED, qualified), (LOST, lost)):
        events = [e for e in seen.crm_events if e.event_type == kind]
        for event in events:
            if not event.published:
                problem("lost", "crm-queue: event stuck in the outbox", event.lead_id, kind)
        _count(problem, "crm-queue", closed, (e.lead_id for e in events), what=kind)
    if seen.prospects is not None:
        _count(problem, "assignment", qualified, seen.prospects, what="prospect")
    if seen.assigned is not None:
        per_lead = Counter(e.lead_id for e in seen.assigned)
        for lead_id, n in per_lead.items():
            if n > 1:
                problem("duplicated", "assignment: prospect.assigned twice", lead_id, f"{n}")
    if seen.recoveries is not None:
        _count(problem, "recovery", recoverable, seen.recoveries, what="recovery of the loss")
    if seen.facts is not None:
        facts = Counter(f.lead_id for f in seen.facts)
        by_lead = {f.lead_id: f for f in seen.facts}
        for lead_id in leads:
            fact = by_lead.get(lead_id)
            if fact is None or not fact.ingested:
                problem("lost", "metrics: lead.ingested not counted", lead_id)
            elif lead_id in qualified and not fact.qualified:
                problem("lost", "metrics: lead.qualified not counted", lead_id)
        for lead_id, n in facts.items():
            if n > 1:
                problem("duplicated", "metrics: two facts for one lead", lead_id, f"{n}")
        for lead_id in facts.keys() - leads.keys():
            problem("unexpected", "metrics: fact of no intake lead", lead_id)
    if seen.losses is not None:
        _count(problem, "metrics", lost, seen.losses, what="lead.lost counted")
    if seen.merges is not None:
        counted = Counter(seen.merges)
        for lead_id in merges.keys() | counted.keys():
            n, m = counted[lead_id], merges[lead_id]
            if n < m:
                problem("lost", "metrics: lead.duplicate not counted", lead_id, f"{n} of {m}")
            elif n > m:
                problem("duplicated", "metrics: lead.duplicate counted twice", lead_id, f"{n}/{m}")

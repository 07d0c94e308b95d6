"""`forecourt simulate`: a dealer group driven through the real services, day by day, on a
compressed clock, keeping its own count of what it did (`domain.truth`).

Every service process reads its time from one clock file (`FORECOURT_CLOCK_FILE`, an offset
from the system's time): a simulated day starts by moving it to 09:00 of that day in the
dealerships' zone, so SLA timers, persistence rules, recovery cadences and the KPIs' days all
see the simulated calendar while a day takes seconds. Each day:

1. the day's enquiries go to intake (JSON with the lead's dealership, or ADF for the sources
   that send it), and intake's answer is checked against the plan (ingested, merged, rejected);
2. on opening days the CRM agents work their leads (claim, attempts, qualify or write off with
   a coded reason), each new prospect awaited in assignment and touched by its consultant as
   soon as it is qualified; meanwhile the consultants win or lose the prospects due to close;
3. the CRM department works recovery's due list (claim, outcome): reactivated leads come back
   as hot prospects, awaited and touched by their consultant the same day.

Only what a service confirmed is counted; an unexpected answer is a `problem`. At the end the
metrics API's KPIs are read (once they have caught up, within `settle_s`) and compared with the
count, line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time as monotonic_time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from forecourt_chaos.adapters.local_system import LocalSystem
from forecourt_chaos.domain.dealer_group import (
    CONSULTANT_CAP,
    CURRENCY,
    TIMEZONE,
    DealerGroup,
    GroupShape,
    build_group,
)
from forecourt_chaos.domain.payloads import adf_document
from forecourt_chaos.domain.plan import PlannedLead
from forecourt_chaos.domain.stories import (
    COMPETITORS,
    Calendar,
    Plan,
    ProspectPlan,
    Submission,
    build_plan,
    hot_prospect,
    recovery_outcome,
)
from forecourt_chaos.domain.truth import (
    Line,
    Truth,
    compare,
    measured_funnel,
    measured_lost_reasons,
    measured_recovery,
    measured_sources,
)
from shared.clock import OffsetClock
from shared.contracts.lost_reasons import is_recoverable

ZONE = ZoneInfo(TIMEZONE)
OK = (200, 201, 202)
TEST_RULES = {
    "dedup_window_days": 30,
    "test_rules": {
        "rules": [
            {
                "field": "any_name",
                "pattern": r"^\s*(?:test|testing|asdf)\s*$",
                "description": "name is a test value",
            }
        ]
    },
}
Progress = Callable[[str, int, int | None], None]
# Pauses (first, longest) between tries while an answer waits for an event on its way.
QUICK = (0.05, 0.5)
# A claim waits for crm-queue to consume the lead's lead.ingested. Every try is a request that
# crm-queue answers 404 on the same CPU its consumer needs: measured on a loaded 2-core machine,
# 16 agents retrying every 0.5 s sent 506 404s for 64 claims on the first day and delayed the
# very tasks they waited for (6.6 s a claim on average, 26 s at most); with these pauses, 65
# 404s for 49 claims, 3.1 s on average (docs/simulate.md).
PATIENT = (0.25, 2.0)


@dataclass(frozen=True)
class SimConfig:
    seed: int = 20260302
    leads: int = 3000
    days: int = 28
    start: date = date(2026, 3, 2)  # a Monday
    shape: GroupShape = field(default_factory=GroupShape)
    tenant: str = "maple-auto-group"
    concurrency: int = 16
    wait_s: float = 60.0  # the longest wait for one effect (a task, a prospect, a run)
    settle_s: float = 120.0  # the longest wait for metrics to catch up at the end


@dataclass
class SimResult:
    config: SimConfig
    truth: Truth
    lines: list[Line]
    problems: list[str]
    dashboard: str
    admin_token: str
    seconds: float
    settled: bool

    @property
    def mismatches(self) -> list[Line]:
        return [line for line in self.lines if not line.equal]

    @property
    def passed(self) -> bool:
        return not self.problems and not self.mismatches


class Problem(Exception):
    """An answer the plan did not expect (kept in `Simulation.problems`)."""


class Simulation:
    def __init__(
        self,
        config: SimConfig,
        system: LocalSystem,
        clock_path: Path,
        *,
        progress: Progress | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.system = system
        self.clock_path = clock_path
        self.progress = progress or (lambda _task, _done, _total: None)
        self.say = say or (lambda _message: None)
        self.calendar = Calendar(config.start, config.days)
        self.group: DealerGroup = build_group(config.seed, config.tenant, config.shape)
        self.plan: Plan = build_plan(config.seed, self.group, self.calendar, config.leads)
        self.truth = Truth()
        self.problems: list[str] = []
        self.lead_ids: dict[int, str] = {}  # submission index -> lead id
        self.index_of: dict[str, int] = {}  # lead id -> submission index
        self.api_keys: dict[int, str] = {}  # source index -> API key
        self.runs: dict[int, int] = defaultdict(int)  # lead -> recovery runs started
        self.qualified: set[int] = set()  # leads crm-queue qualified
        self.hot: dict[int, ProspectPlan] = {}  # reactivated leads -> consultant's plan
        self.closing: dict[int, list[tuple[int, ProspectPlan, bool]]] = defaultdict(list)
        self._gate = asyncio.Semaphore(config.concurrency)
        # The consultants' closings, beside the agents' work (`run_day`).
        self._closers = asyncio.Semaphore(max(1, config.concurrency // 4))
        self._http: httpx.AsyncClient | None = None
        self._tokens: dict[tuple[str, str, str], str] = {}
        self.posted = 0
        self.actions = 0

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None
        return self._http

    def _token(self, role: str, subject: str, dealership: str = "") -> str:
        key = (role, subject, dealership)
        if key not in self._tokens:
            self._tokens[key] = self.system.token(
                self.config.tenant, role, subject, (dealership,) if dealership else ()
            )
        return self._tokens[key]

    def auth(self, role: str, subject: str, dealership: int | None = None) -> dict[str, str]:
        ident = self.group.ids[f"d{dealership}"] if dealership is not None else ""
        return {"Authorization": f"Bearer {self._token(role, subject, ident)}"}

    def admin(self) -> dict[str, str]:
        return self.auth("admin", "sim-admin")

    def manager(self, dealership: int) -> dict[str, str]:
        return self.auth("manager", f"manager-{dealership}", dealership)

    def dealership_id(self, index: int) -> str:
        return self.group.ids[f"d{index}"]

    def problem(self, what: str, response: httpx.Response | None) -> Problem:
        detail = f"{response.status_code} {response.text[:300]}" if response else "no answer"
        message = f"{what}: {detail}"
        self.problems.append(message)
        return Problem(message)

    async def call(
        self,
        what: str,
        method: str,
        url: str,
        *,
        ok: Iterable[int] = OK,
        wait_for: Iterable[int] = (404,),
        backoff: tuple[float, float] = QUICK,
        **kw: Any,
    ) -> httpx.Response:
        """The answer once it is one of `ok`; `wait_for` statuses, 5xx and connection errors
        are tried again until `wait_s` (an event on its way), after pauses growing from
        `backoff[0]` to `backoff[1]` seconds; anything else is a Problem."""
        ok, wait_for = tuple(ok), tuple(wait_for)
        deadline = monotonic_time.monotonic() + self.config.wait_s
        pause, longest = backoff
        while True:
            response: httpx.Response | None
            try:
                response = await self.http.request(method, url, **kw)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code in ok:
                return response
            retry = response is None or response.status_code in wait_for
            retry = retry or (response is not None and response.status_code >= 500)
            if not retry or monotonic_time.monotonic() > deadline:
                raise self.problem(what, response)
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)

    async def until(
        self, what: str, check: Callable[[], Awaitable[bool]], within: float | None = None
    ) -> None:
        deadline = monotonic_time.monotonic() + (within or self.config.wait_s)
        pause = 0.05
        while not await check():
            if monotonic_time.monotonic() > deadline:
                raise self.problem(
                    f"{what}: not seen in {within or self.config.wait_s:.0f} s", None
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def each(
        self,
        items: Iterable[Any],
        work: Callable[[Any], Awaitable[None]],
        gate: asyncio.Semaphore | None = None,
    ) -> None:
        """`work` on every item, `concurrency` at a time (or as `gate` allows); a Problem is
        kept, not raised."""
        gate = gate or self._gate

        async def one(item: Any) -> None:
            async with gate:
                with contextlib.suppress(Problem):  # kept in self.problems
                    await work(item)

        await asyncio.gather(*(one(i) for i in items))

    def _acted(self, kind: str) -> None:
        self.truth.actions[kind] += 1
        self.actions += 1
        self.progress("actions", self.actions, None)

    # -- the clock --------------------------------------------------------------------------

    def moment(self, day: int, hour: int = 9) -> datetime:
        return datetime.combine(self.calendar.date_of(day), time(hour), ZONE)

    def set_clock(self, day: int) -> None:
        OffsetClock.write(self.clock_path, self.moment(day) - datetime.now(UTC))

    # -- the group --------------------------------------------------------------------------

    async def create_group(self) -> None:
        intake = self.system.url("intake")
        assignment = self.system.url("assignment")
        for i, d in enumerate(self.group.dealerships):
            r = await self.call(
                "dealership",
                "POST",
                f"{intake}/v1/admin/dealerships",
                json={"name": d.name, "country": "CA", "timezone": TIMEZONE},
                headers=self.admin(),
            )
            self.group.ids[f"d{i}"] = r.json()["id"]
        for i, s in enumerate(self.group.sources):
            r = await self.call(
                "source",
                "POST",
                f"{intake}/v1/admin/sources",
                json={
                    "name": s.name,
                    "kind": s.kind,
                    "dealership_id": self.dealership_id(s.dealership),
                    "cost_per_lead": str(s.cost_per_lead),
                    "currency": CURRENCY,
                },
                headers=self.admin(),
            )
            self.group.ids[s.key] = r.json()["id"]
            self.api_keys[i] = r.json()["api_key"]
        await self.call(
            "settings", "PUT", f"{intake}/v1/admin/settings", json=TEST_RULES, headers=self.admin()
        )

        async def consultant(c: Any) -> None:
            d = self.group.dealerships[c.dealership]
            # The first of each dealership takes any car; the others new cars of its brand.
            generalist = c == self.group.consultants_of(c.dealership)[0]
            await self.call(
                "consultant",
                "POST",
                f"{assignment}/v1/consultants",
                json={
                    "consultant_id": c.id,
                    "dealership_id": self.dealership_id(c.dealership),
                    "name": c.name,
                    "brands": [] if generalist else [d.brand],
                    "conditions": [] if generalist else ["new"],
                    "cap": CONSULTANT_CAP,
                },
                headers=self.manager(c.dealership),
            )
            await self.call(
                "clock-in",
                "POST",
                f"{assignment}/v1/consultants/{c.id}/clock-in",
                headers=self.auth("consultant", c.id, c.dealership),
            )

        await self.each(self.group.consultants, consultant)

    # -- enquiries --------------------------------------------------------------------------

    async def closed_in_intake(self, sub: Submission) -> None:
        """Until intake knows the earlier lead of a returning customer closed (its prospect
        won): while intake still takes it for an open prospect, their enquiry would be merged
        into it for the consultant, where a customer coming back after buying is a new lead."""
        assert sub.original is not None
        lead_id = self.lead_ids.get(sub.original)
        if lead_id is None:
            return  # its enquiry failed: a problem already
        url = f"{self.system.url('intake')}/v1/leads/{lead_id}"

        async def closed() -> bool:
            r = await self.http.get(url, headers=self.admin())
            return r.status_code == 200 and r.json()["status"] == "closed"

        await self.until(f"lead {sub.original} closed in intake", closed)

    async def post(self, sub: Submission) -> None:
        intake = self.system.url("intake")
        source = self.group.sources[sub.source]
        if sub.kind == "returning":
            await self.closed_in_intake(sub)
        headers = {"X-Api-Key": self.api_keys[sub.source], "Idempotency-Key": sub.idempotency_key}
        rejected = sub.kind in ("test", "invalid")
        if sub.way == "adf":
            assert sub.person is not None
            body = adf_document(
                PlannedLead(sub.idempotency_key, self.config.tenant, sub.person, sub.fields)
            )
            r = await self.call(
                f"enquiry {sub.index} (adf)",
                "POST",
                f"{intake}/v1/leads/adf",
                content=body,
                headers=headers | {"Content-Type": "application/xml"},
                ok=(202, 422),
                wait_for=(),
            )
            answer = (r.json().get("leads") or [{}])[0]
        else:
            fields = sub.fields | {"dealership_id": self.dealership_id(sub.dealership)}
            r = await self.call(
                f"enquiry {sub.index}",
                "POST",
                f"{intake}/v1/leads",
                json=fields,
                headers=headers,
                ok=(202, 422),
                wait_for=(),
            )
            answer = r.json()
        outcome = "rejected" if r.status_code == 422 else answer.get("outcome")
        expected = {"duplicate": "merged", "test": "rejected", "invalid": "rejected"}.get(
            sub.kind, "ingested"
        )
        self.posted += 1
        self.progress("enquiries", self.posted, len(self.plan.submissions))
        if outcome != expected:
            raise self.problem(f"enquiry {sub.index} ({sub.kind}) answered {outcome}", r)
        if rejected:
            self.truth.enquiry(sub.source, "rejected", source.cost_per_lead)
            return
        lead_id = str(answer["lead_id"])
        if sub.kind == "duplicate":
            assert sub.original is not None
            if self.lead_ids.get(sub.original) != lead_id:
                raise self.problem(f"enquiry {sub.index} merged into another lead", r)
            self.truth.enquiry(sub.source, "duplicate", source.cost_per_lead)
            return
        self.lead_ids[sub.index] = lead_id
        self.index_of[lead_id] = sub.index
        self.truth.enquiry(
            sub.source, "lead", source.cost_per_lead, returning=sub.kind == "returning"
        )

    # -- first contact ----------------------------------------------------------------------

    async def work_lead(self, item: tuple[Submission, int]) -> None:
        sub, day = item
        lead_id = self.lead_ids.get(sub.index)
        if lead_id is None or sub.agent is None:
            return  # its enquiry failed: a problem already
        step = next(s for s in sub.crm if s.day == day)
        base = f"{self.system.url('crm-queue')}/v1/leads/{lead_id}"
        agent = self.auth("agent", sub.agent, sub.dealership)
        await self.call(
            f"claim {sub.index}", "POST", f"{base}/claim", headers=agent, backoff=PATIENT
        )
        for op in step.ops:
            if op[0] == "attempt":
                body: dict[str, Any] = {"channel": op[1], "outcome": op[2]}
                await self.call(
                    f"attempt {sub.index}", "POST", f"{base}/attempts", json=body, headers=agent
                )
                self._acted("contact attempts")
            elif op[0] == "qualify":
                body = {"outcome": op[1]}
                if op[1].startswith("appointment."):
                    body["appointment_at"] = self.moment(day + 2, 10).isoformat()
                await self.call(
                    f"qualify {sub.index}",
                    "POST",
                    f"{base}/qualify",
                    json=body,
                    headers=agent,
                    wait_for=(),
                )
                self.truth.qualified(sub.source)
                self.qualified.add(sub.index)
                self._acted("qualified")
                if sub.prospect is not None and sub.prospect.close_day is not None:
                    self.closing[sub.prospect.close_day].append((sub.index, sub.prospect, False))
                # The consultant calls the new prospect as soon as assignment gave it to them.
                await self.touch((sub, False))
            else:
                await self.call(
                    f"lose {sub.index}",
                    "POST",
                    f"{base}/lose",
                    json={"reason_code": op[1]},
                    headers=agent,
                    wait_for=(),
                )
                self.truth.lead_lost(sub.index, sub.source, op[1])
                self._acted("leads written off")
                if is_recoverable(op[1]):
                    self.runs[sub.index] += 1

    # -- prospects --------------------------------------------------------------------------

    async def prospect(self, sub: Submission, *, hot: bool = False) -> dict[str, Any]:
        """The prospect once assignment gave it to a consultant (a hot one: once reactivated)."""
        url = f"{self.system.url('assignment')}/v1/prospects/{self.lead_ids[sub.index]}"
        seen: dict[str, Any] = {}

        async def assigned() -> bool:
            r = await self.http.get(url, headers=self.manager(sub.dealership))
            if r.status_code != 200:
                return False
            seen.update(r.json())
            return bool(
                seen["state"] == "open" and seen["consultant_id"] and (seen["hot"] or not hot)
            )

        await self.until(f"prospect {sub.index}{' (hot)' if hot else ''} assigned", assigned)
        return seen

    async def touch(self, item: tuple[Submission, bool]) -> None:
        """The consultant's first call on a new (or reactivated) prospect."""
        sub, hot = item
        p = await self.prospect(sub, hot=hot)
        consultant = str(p["consultant_id"])
        await self.call(
            f"activity {sub.index}",
            "POST",
            f"{self.system.url('assignment')}/v1/prospects/{p['lead_id']}/activities",
            json={"kind": "call", "note": "introduced myself, booked a visit"},
            headers=self.auth("consultant", consultant, sub.dealership),
            wait_for=(),
        )
        self._acted("prospects touched")

    async def close(self, item: tuple[Submission, ProspectPlan, bool, int]) -> None:
        sub, plan, hot, day = item
        p = await self.prospect(sub, hot=hot)
        consultant = self.auth("consultant", str(p["consultant_id"]), sub.dealership)
        url = f"{self.system.url('assignment')}/v1/prospects/{p['lead_id']}"
        if plan.action == "win":
            assert plan.price is not None
            vehicle = sub.fields.get("vehicle") or {}
            await self.call(
                f"win {sub.index}",
                "POST",
                f"{url}/win",
                json={
                    "vehicle": {"make": vehicle.get("make"), "model": vehicle.get("model")},
                    "price": str(plan.price),
                    "currency": CURRENCY,
                },
                headers=consultant,
                wait_for=(),
            )
            self.truth.won(sub.source, plan.price, reactivated=hot)
            self._acted("sales")
            return
        body: dict[str, Any] = {"reason_code": plan.action}
        if plan.action.startswith("bought_elsewhere."):
            brand = self.group.dealerships[sub.dealership].brand
            other = COMPETITORS[sub.index % len(COMPETITORS)]
            body["competitor_dealer"] = f"{other if 'other' in plan.action else brand} Downtown"
            if plan.action.endswith("other_brand"):
                body["competitor_brand"] = other
        if plan.action == "prospect.postponed":
            body["postponed_until"] = self.calendar.date_of(day + 45).isoformat()
        await self.call(
            f"lose prospect {sub.index}",
            "POST",
            f"{url}/lose",
            json=body,
            headers=consultant,
            wait_for=(),
        )
        self.truth.prospect_lost(sub.index, plan.action)
        self._acted("prospects lost")
        if is_recoverable(plan.action):
            self.runs[sub.index] += 1

    # -- recovery ---------------------------------------------------------------------------

    async def runs_known(self, leads: Iterable[int]) -> None:
        """Until recovery holds every run this simulation's losses started."""
        url = f"{self.system.url('recovery')}/v1/recovery"

        async def known(index: int) -> None:
            sub = self.plan.submissions[index]
            params = {"lead_id": self.lead_ids[index], "state": ["scheduled", "due", "ended"]}

            async def enough() -> bool:
                r = await self.http.get(url, params=params, headers=self.manager(sub.dealership))
                return r.status_code == 200 and len(r.json()) >= self.runs[index]

            await self.until(f"recovery runs of {index}", enough)

        await self.each(set(leads), known)

    async def follow_up(self, item: tuple[dict[str, Any], int]) -> None:
        due, day = item
        index = self.index_of.get(str(due["lead_id"]))
        if index is None:
            return
        sub = self.plan.submissions[index]
        outcome = recovery_outcome(self.config.seed, index, self.runs[index] - 1, int(due["step"]))
        agent_id = self.group.agents_of(sub.dealership)[0].id
        agent = self.auth("agent", agent_id, sub.dealership)
        url = f"{self.system.url('recovery')}/v1/recovery/{due['recovery_id']}"
        await self.call(
            f"claim follow-up {index}", "POST", f"{url}/claim", headers=agent, wait_for=()
        )
        body: dict[str, Any] = {"outcome": outcome}
        if outcome == "bought_elsewhere":
            same = index % 2 == 0
            brand = self.group.dealerships[sub.dealership].brand
            body |= {
                "same_brand": same,
                "brand": brand if same else COMPETITORS[index % len(COMPETITORS)],
                "dealer": "a dealer across town",
            }
        await self.call(
            f"follow-up {index}", "POST", f"{url}/outcome", json=body, headers=agent, wait_for=()
        )
        self.truth.recovery(index, outcome)
        self._acted(f"follow-ups {outcome}")
        if outcome == "reactivated":
            plan = hot_prospect(self.config.seed, index, self.calendar, day)
            self.hot[index] = plan
            if plan.close_day is not None:
                self.closing[plan.close_day].append((index, plan, True))

    async def work_due(self, day: int) -> list[int]:
        """Every due follow-up of every dealership; returns the leads reactivated."""
        url = f"{self.system.url('recovery')}/v1/recovery/due"
        reactivated: list[int] = []
        for d in range(len(self.group.dealerships)):
            agent = self.auth("agent", self.group.agents_of(d)[0].id, d)
            done: set[str] = set()
            while True:
                r = await self.call(
                    "due list",
                    "GET",
                    url,
                    params={"dealership_id": self.dealership_id(d), "limit": 200},
                    headers=agent,
                    wait_for=(),
                )
                due = [x for x in r.json() if x["recovery_id"] not in done]
                if not due:
                    break
                done |= {x["recovery_id"] for x in due}
                before = set(self.hot)
                await self.each([(x, day) for x in due], self.follow_up)
                reactivated += [i for i in self.hot if i not in before]
        return reactivated

    # -- the days ---------------------------------------------------------------------------

    async def run_day(self, day: int) -> None:
        self.set_clock(day)
        await self.each(self.plan.of_day(day), self.post)
        if not self.calendar.is_workday(day):
            return
        work = [(s, day) for s in self.plan.submissions if any(st.day == day for st in s.crm)]
        closing = [
            (self.plan.submissions[i], plan, hot, day) for i, plan, hot in self.closing.pop(day, [])
        ]
        # The CRM agents (crm-queue) and the consultants (assignment) work side by side, as
        # they do in a dealership: each service's answers wait on its own CPU, not on the
        # other's turn (a prospect closes days after its qualification, never the same day).
        await asyncio.gather(
            self.each(work, self.work_lead), self.each(closing, self.close, self._closers)
        )
        lost = [s.index for s, _ in work if self.runs.get(s.index)]
        lost += [s.index for s, _, _, _ in closing if self.runs.get(s.index)]
        await self.runs_known(lost)
        reactivated = await self.work_due(day)
        await self.each([(self.plan.submissions[i], True) for i in reactivated], self.touch)

    # -- the KPIs ---------------------------------------------------------------------------

    def kpi_params(self) -> dict[str, str]:
        return {
            "period": "range",
            "from": self.calendar.date_of(0).isoformat(),
            "to": self.calendar.date_of(self.config.days - 1).isoformat(),
            "tz": TIMEZONE,
        }

    async def kpi(self, name: str) -> dict[str, Any]:
        url = f"{self.system.url('metrics')}/v1/kpis/{name}"
        r = await self.call(
            f"kpis {name}", "GET", url, params=self.kpi_params(), headers=self.admin(), wait_for=()
        )
        result: dict[str, Any] = r.json()
        return result

    async def compare(self) -> list[Line]:
        source_names = {i: s.name for i, s in enumerate(self.group.sources)}
        by_id = {self.group.ids[s.key]: s.name for s in self.group.sources}
        lines = compare("funnel", measured_funnel(await self.kpi("funnel")), self.truth.funnel())
        lines += compare(
            "lost reasons",
            measured_lost_reasons(await self.kpi("lost-reasons")),
            self.truth.lost_reasons(),
        )
        lines += compare(
            "recovery",
            measured_recovery(await self.kpi("recovery")),
            self.truth.recovery_report(CURRENCY),
        )
        measured = measured_sources(await self.kpi("sources"), by_id)
        for name, expected in self.truth.source_rows(source_names).items():
            got = measured.get(name, {})
            lines += compare(f"source {name}", got, expected)
        return lines

    async def settle(self) -> bool:
        """Until metrics' funnel, lost reasons and recovery equal the count (or `settle_s`)."""
        deadline = monotonic_time.monotonic() + self.config.settle_s
        while True:
            lines = await self.compare()
            if all(line.equal for line in lines):
                return True
            if monotonic_time.monotonic() > deadline:
                return False
            await asyncio.sleep(1.0)

    # -- the whole run ----------------------------------------------------------------------

    async def run(self) -> SimResult:
        started = monotonic_time.monotonic()
        async with httpx.AsyncClient(timeout=30.0) as http:
            self._http = http
            self.set_clock(0)
            self.say(
                f"dealer group {self.config.tenant}: {len(self.group.dealerships)} dealerships, "
                f"{len(self.group.sources)} sources, {len(self.group.agents)} agents, "
                f"{len(self.group.consultants)} consultants"
            )
            await self.create_group()
            self.progress("enquiries", 0, len(self.plan.submissions))
            for day in range(self.config.days):
                await self.run_day(day)
                self.progress("days", day + 1, self.config.days)
            settled = await self.settle()
            lines = await self.compare()
        metrics = self.system.url("metrics")
        token = self.system.token(self.config.tenant, "admin", "sim-admin")
        return SimResult(
            self.config,
            self.truth,
            lines,
            self.problems,
            f"{metrics}/dashboard",
            token,
            monotonic_time.monotonic() - started,
            settled,
        )


def default_env(clock_path: Path) -> dict[str, str]:
    """Settings for a simulation's processes: its clock, timers that look again within a
    second of the clock moving, and small pools (they share the machine's PostgreSQL)."""
    return {
        "FORECOURT_CLOCK_FILE": str(clock_path),
        "FORECOURT_LOG_LEVEL": "WARNING",
        "TIMER_MAX_SLEEP_SECONDS": "1",
        "SCANNER_MAX_SLEEP_SECONDS": "1",
        "DB_POOL_SIZE": "4",
        "DB_MAX_OVERFLOW": "2",
    }

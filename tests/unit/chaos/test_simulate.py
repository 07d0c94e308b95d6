"""`forecourt simulate`'s plan and ground truth (no services): the same seed gives the same
story, every story is one the services must accept, and the truth counts as metrics does."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from forecourt_chaos.domain.dealer_group import GroupShape, build_group
from forecourt_chaos.domain.stories import Calendar, build_plan, recovery_outcome
from forecourt_chaos.domain.truth import Truth, compare

CAL = Calendar(date(2026, 3, 2), 28)
GROUP = build_group(7, "acme", GroupShape())


def test_the_same_seed_gives_the_same_group_and_story() -> None:
    a, b = build_plan(7, GROUP, CAL, 1500), build_plan(7, GROUP, CAL, 1500)
    assert [(s.kind, s.fields, s.crm, s.prospect) for s in a.submissions] == [
        (s.kind, s.fields, s.crm, s.prospect) for s in b.submissions
    ]
    assert build_group(7, "acme", GroupShape()) == GROUP
    other = build_plan(8, GROUP, CAL, 1500)
    assert [s.fields for s in other.submissions] != [s.fields for s in a.submissions]
    assert recovery_outcome(7, 12, 0, 1) == recovery_outcome(7, 12, 0, 1)


def test_the_group_has_the_issue_s_size_and_everyone_a_dealership() -> None:
    assert (len(GROUP.dealerships), len(GROUP.sources), len(GROUP.agents)) == (12, 15, 30)
    assert len(GROUP.consultants) == 120
    assert all(GROUP.agents_of(d) and GROUP.consultants_of(d) for d in range(12))
    with pytest.raises(ValueError, match="per dealership"):
        GroupShape(dealerships=5, agents=4)


def test_repeats_come_while_the_lead_is_open_and_returns_after_a_sale() -> None:
    plan = build_plan(7, GROUP, CAL, 3000)
    by_index = {s.index: s for s in plan.submissions}
    kinds = {s.kind for s in plan.submissions}
    assert kinds == {"new", "returning", "duplicate", "test", "invalid"}
    for s in plan.submissions:
        if s.original is None:
            continue
        first = by_index[s.original]
        assert first.day < s.day and first.person == s.person
        if s.kind == "duplicate":
            # intake merges only into a lead still in first contact
            assert first.first_step_day() is None or first.first_step_day() >= s.day
        else:
            assert first.prospect is not None and first.prospect.action == "win"
            assert first.prospect.close_day is not None and first.prospect.close_day < s.day


def test_every_write_off_meets_the_rule_crm_queue_checks() -> None:
    plan = build_plan(7, GROUP, CAL, 3000)
    for s in plan.submissions:
        assert all(CAL.is_workday(step.day) for step in s.crm)
        ops = [(step.day, op) for step in s.crm for op in step.ops]
        attempts = [(day, op) for day, op in ops if op[0] == "attempt"]
        if s.fate.startswith("not_reached"):
            days = sorted({day for day, _ in attempts})
            assert len(attempts) >= 6 and len(days) >= 3 and days[-1] - days[0] >= 5
            assert len({op[1] for _, op in attempts}) >= 2
        if s.fate.startswith(("no_interest", "bought_elsewhere", "not_reached.refused")):
            assert any(op[2] == "reached" for _, op in attempts)
        if s.fate == "pollution.no_phone":
            assert "phone" not in s.fields


def test_the_truth_counts_as_metrics_does() -> None:
    t = Truth()
    for kind in ("lead", "lead", "lead", "duplicate", "rejected"):
        t.enquiry(0, kind, Decimal("10.00"))
    t.enquiry(1, "lead", Decimal("0.00"), returning=True)
    t.lead_lost(1, 0, "pollution.test")  # invalid, and recovery ends it at once (dead)
    t.lead_lost(2, 0, "bought_elsewhere.other_brand")
    t.qualified(0)
    t.qualified(1)
    t.prospect_lost(0, "prospect.price")
    t.recovery(0, "reactivated")
    t.recovery(2, "bought_elsewhere")  # the same lead: counted once
    t.won(0, Decimal("30000.99"), reactivated=True)
    funnel = t.funnel()
    assert funnel["leads"] == 4 and funnel["valid_leads"] == 3 and funnel["returning"] == 1
    assert funnel["received"] == 6 and funnel["lead_to_sale"] == round(1 / 3, 4)
    recovery = t.recovery_report("CAD")
    assert recovery["lost_deals"] == 2 and recovery["bought_elsewhere"] == 1
    assert recovery["dead"] == 1 and recovery["reactivation_rate"] == 0.5
    rows = t.source_rows({0: "web", 1: "chat"})
    assert rows["web"]["cost"] == Decimal("50.00") and rows["web"]["cost_per_sale"] == Decimal(
        "50.00"
    )
    assert rows["web"]["pollution_rate"] == 0.4  # (1 rejected + 1 invalid) / 5 delivered


def test_a_kpi_line_compares_money_to_the_cent_and_counts_a_missing_row_as_zero() -> None:
    lines = compare("x", {"cost": "12.5", "a": 1}, {"cost": Decimal("12.50"), "b": 0})
    assert [(line.name, line.equal) for line in lines] == [
        ("cost", True),
        ("b", True),
        ("a", False),
    ]

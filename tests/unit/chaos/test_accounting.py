"""The chaos harness's accounting: sent leads against what intake, the broker and crm-queue hold."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

from forecourt_chaos.domain.accounting import (
    Accounting,
    Ack,
    DeadLetter,
    Event,
    Fact,
    Lead,
    Observed,
    SentLead,
    Submission,
    Task,
    account,
)

_ids = itertools.count(1)
H = timedelta(hours=1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def healthy(sent: list[SentLead]) -> Observed:
    """What a correct system holds after `sent`: each person one lead, later keys merged into it,
    each event once in the outbox and on the broker, each task with every enquiry."""
    seen: Observed = Observed(broker=[], tasks=[])
    lead_of: dict[tuple[str, str], str] = {}
    enquiries: dict[str, int] = {}
    for s in sent:
        if s.ack is Ack.FAILED:
            continue
        person = (s.tenant, s.person)
        if person in lead_of:
            lead_id, outcome, event_type = lead_of[person], "merged", "lead.duplicate"
        else:
            lead_id, outcome, event_type = _id("lead"), "ingested", "lead.ingested"
            lead_of[person] = lead_id
            seen.leads.append(Lead(lead_id, s.tenant, s.person))
        enquiries[lead_id] = enquiries.get(lead_id, 0) + 1
        seen.submissions.append(Submission(s.key, s.tenant, outcome, lead_id))
        event = Event(_id("event"), event_type, lead_id)
        seen.outbox.append(event)
        assert seen.broker is not None
        seen.broker.append(event)
    assert seen.tasks is not None
    for lead in seen.leads:
        seen.tasks.append(Task(lead.lead_id, lead.tenant, True, enquiries[lead.lead_id]))
    return seen


def lead(key: str, person: str = "", ack: Ack = Ack.OK, way: str = "json") -> SentLead:
    return SentLead(key, "t1", person or f"{key}@example.com", way, ack)


def stages(result: Accounting) -> set[tuple[str, str]]:
    return set(result.by_stage())


def test_a_healthy_run_passes_with_every_lead_counted() -> None:
    sent = [lead("a"), lead("b"), lead("c", person="a@example.com"), lead("d", ack=Ack.FAILED)]
    result = account(sent, healthy(sent))
    assert result.passed
    assert result.problems == []
    assert (result.sent, result.leads, result.merges) == (4, 2, 1)
    assert result.acks == {"ok": 3, "failed": 1}


def test_an_acknowledged_lead_intake_does_not_hold_is_lost_and_its_dead_letter_named() -> None:
    sent = [lead("a", way="amqp"), lead("b")]
    seen = healthy(sent[1:])
    seen.dead_letters.append(DeadLetter("forecourt.intake.raw.dlq", "delivery_limit", key="a"))
    result = account(sent, seen)
    assert not result.passed
    assert result.lost == 1
    [problem] = result.of("lost")
    assert (problem.stage, problem.subject) == ("intake: no submission", "a")
    assert "dead-lettered in forecourt.intake.raw.dlq (delivery_limit)" in problem.detail
    assert result.dead_letters == {"forecourt.intake.raw.dlq": 1}


def test_an_indeterminate_lead_may_be_missing_but_once_recorded_must_go_all_the_way() -> None:
    sent = [lead("a", ack=Ack.INDETERMINATE), lead("b", ack=Ack.INDETERMINATE)]
    seen = healthy(sent[1:])  # "a" never reached intake: allowed
    assert account(sent, seen).passed
    assert account(sent, seen).indeterminate_recorded == 1
    assert seen.tasks is not None
    seen.tasks.clear()  # "b" reached intake but crm-queue never heard of it
    result = account(sent, seen)
    assert stages(result) == {("lost", "crm-queue: no task")}


def test_a_lead_refused_with_4xx_but_kept_is_unexpected() -> None:
    sent = [lead("a", ack=Ack.FAILED)]
    seen = healthy([dataclasses.replace(sent[0], ack=Ack.OK)])
    result = account(sent, seen)
    assert stages(result) == {("unexpected", "intake: kept a lead it refused")}
    assert result.passed  # not a loss or a duplicate, but shown


def test_two_leads_for_one_person_are_a_duplicate() -> None:
    sent = [lead("a", person="p@example.com"), lead("b", person="q@example.com")]
    seen = healthy(sent)
    # A retry that de-duplication missed: the same person got a second lead.
    twin = Lead(_id("lead"), "t1", "p@example.com")
    seen.leads.append(twin)
    seen.outbox.append(Event(_id("event"), "lead.ingested", twin.lead_id))
    assert seen.tasks is not None and seen.broker is not None
    seen.broker.append(seen.outbox[-1])
    seen.tasks.append(Task(twin.lead_id, "t1", True, 1))
    result = account(sent, seen)
    assert result.duplicated == 1
    assert stages(result) == {("duplicated", "intake: two leads for one person")}


def test_enquiries_tell_a_duplicate_event_applied_twice_or_never() -> None:
    sent = [lead("a", person="p@example.com"), lead("b", person="p@example.com")]
    seen = healthy(sent)
    assert seen.tasks is not None
    [task] = seen.tasks
    seen.tasks[0] = dataclasses.replace(task, enquiries=3)
    assert stages(account(sent, seen)) == {("duplicated", "crm-queue: event applied twice")}
    # lead.duplicate arrived first, then lead.ingested overwrote what it counted.
    seen.tasks[0] = dataclasses.replace(task, enquiries=1)
    ingested, duplicate = seen.outbox
    seen.consumed = {duplicate.event_id: datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)}
    seen.consumed[ingested.event_id] = datetime(2026, 1, 1, 9, 0, 1, tzinfo=UTC)
    result = account(sent, seen)
    assert stages(result) == {("lost", "crm-queue: lead.duplicate not applied")}
    detail = result.of("lost")[0].detail
    assert "enquiries 1, expected 2" in detail
    assert "consumed in order: lead.duplicate, lead.ingested" in detail
    del seen.consumed[duplicate.event_id]
    assert "never consumed: lead.duplicate" in account(sent, seen).of("lost")[0].detail


def test_a_redelivered_event_is_not_a_duplicate_but_a_second_event_is() -> None:
    sent = [lead("a")]
    seen = healthy(sent)
    assert seen.broker is not None
    seen.broker.append(seen.broker[0])  # at-least-once: the same event id again
    assert account(sent, seen).passed
    seen.outbox.append(Event(_id("event"), "lead.ingested", seen.leads[0].lead_id))
    seen.broker.append(seen.outbox[-1])
    result = account(sent, seen)
    assert stages(result) == {("duplicated", "intake: two lead.ingested for one lead")}


def test_events_stuck_in_the_outbox_or_missing_on_the_broker_are_lost() -> None:
    sent = [lead("a"), lead("b")]
    seen = healthy(sent)
    assert seen.broker is not None
    seen.outbox[0] = dataclasses.replace(seen.outbox[0], published=False)
    seen.broker.pop(1)  # confirmed to intake, never routed to the audit queue
    result = account(sent, seen)
    assert stages(result) == {
        ("lost", "intake: event stuck in the outbox"),
        ("lost", "broker: confirmed event not delivered"),
    }
    assert result.lost == 2


def test_a_task_without_lead_ingested_is_lost_and_a_task_of_nobody_unexpected() -> None:
    sent = [lead("a")]
    seen = healthy(sent)
    assert seen.tasks is not None
    seen.tasks[0] = dataclasses.replace(seen.tasks[0], ingested=False)
    seen.tasks.append(Task("stranger", "t1", True, 1))
    result = account(sent, seen)
    assert stages(result) == {
        ("lost", "crm-queue: task never got lead.ingested"),
        ("unexpected", "crm-queue: task of no intake lead"),
    }


def test_without_crm_queue_or_broker_read_back_those_stages_are_skipped() -> None:
    sent = [lead("a")]
    seen = healthy(sent)
    seen.tasks, seen.broker = None, None
    assert account(sent, seen).problems == []


def worked(sent: list[SentLead]) -> tuple[Observed, str, str]:
    """A healthy run in which the first lead was qualified and the second written off (with a
    code recovery follows up), and every service after crm-queue did its part once."""
    seen = healthy(sent)
    assert seen.tasks is not None
    first, second = seen.tasks[0], seen.tasks[1]
    seen.tasks[0] = dataclasses.replace(first, state="qualified", outcome="quotation.requested")
    seen.tasks[1] = dataclasses.replace(second, state="lost", outcome="no_interest.follow_up")
    down = seen.downstream
    down.crm_events = [
        Event(_id("event"), "lead.qualified", first.lead_id),
        Event(_id("event"), "lead.lost", second.lead_id),
    ]
    down.prospects = [first.lead_id]
    down.assigned = [Event(_id("event"), "prospect.assigned", first.lead_id)]
    down.recoveries = [second.lead_id]
    down.facts = [
        Fact(t.lead_id, True, t.state == "qualified", t.state == "lost") for t in seen.tasks
    ]
    down.losses = [second.lead_id]
    down.merges = [e.lead_id for e in seen.outbox if e.event_type == "lead.duplicate"]
    return seen, first.lead_id, second.lead_id


def test_qualified_and_written_off_leads_counted_once_downstream_pass() -> None:
    sent = [lead("a"), lead("b"), lead("c"), lead("d", person="a@example.com")]
    seen, _, _ = worked(sent)
    result = account(sent, seen)
    assert result.problems == []
    assert result.downstream["assignment prospects"] == 1
    assert result.downstream["recovery runs"] == 1


def test_a_lead_counted_twice_downstream_is_a_duplicate() -> None:
    sent = [lead("a"), lead("b"), lead("c", person="a@example.com")]
    seen, qualified, lost = worked(sent)
    down = seen.downstream
    assert down.prospects is not None and down.recoveries is not None
    assert down.losses is not None and down.merges is not None and down.assigned is not None
    down.prospects.append(qualified)
    down.assigned.append(Event(_id("event"), "prospect.assigned", qualified))
    down.recoveries.append(lost)
    down.losses.append(lost)
    down.merges.append(down.merges[0])
    down.crm_events.append(Event(_id("event"), "lead.qualified", qualified))
    result = account(sent, seen)
    assert result.lost == 0
    assert stages(result) == {
        ("duplicated", "assignment: prospect twice"),
        ("duplicated", "assignment: prospect.assigned twice"),
        ("duplicated", "recovery: recovery of the loss twice"),
        ("duplicated", "metrics: lead.lost counted twice"),
        ("duplicated", "metrics: lead.duplicate counted twice"),
        ("duplicated", "crm-queue: lead.qualified twice"),
    }
    assert result.duplicated == 2


def test_a_closed_task_nothing_downstream_followed_is_lost_everywhere() -> None:
    sent = [lead("a"), lead("b"), lead("c", person="a@example.com")]
    seen, qualified, _ = worked(sent)
    down = seen.downstream
    down.crm_events = [dataclasses.replace(e, published=False) for e in down.crm_events]
    down.prospects, down.recoveries, down.losses, down.merges = [], [], [], []
    down.facts = [Fact(qualified, True, False, False)]
    result = account(sent, seen)
    assert stages(result) == {
        ("lost", "crm-queue: event stuck in the outbox"),
        ("lost", "assignment: no prospect"),
        ("lost", "recovery: no recovery of the loss"),
        ("lost", "metrics: lead.qualified not counted"),
        ("lost", "metrics: lead.ingested not counted"),
        ("lost", "metrics: no lead.lost counted"),
        ("lost", "metrics: lead.duplicate not counted"),
    }
    assert result.lost == 2


def test_a_loss_recovery_never_follows_up_needs_no_recovery_and_strangers_are_unexpected() -> None:
    sent = [lead("a"), lead("b")]
    seen, _, _ = worked(sent)
    assert seen.tasks is not None
    seen.tasks[1] = dataclasses.replace(seen.tasks[1], outcome="pollution.test")
    seen.downstream.recoveries = []
    seen.downstream.prospects = ["stranger"]
    result = account(sent, seen)
    assert ("lost", "recovery: no recovery of the loss") not in stages(result)
    assert ("unexpected", "assignment: prospect of no such lead") in stages(result)
    assert ("lost", "assignment: no prospect") in stages(result)


def test_an_enquiry_made_after_its_task_was_closed_is_not_expected_on_the_task() -> None:
    closed = datetime(2026, 1, 1, 12, tzinfo=UTC)
    sent = [lead("a"), lead("b", person="a@example.com"), lead("c", person="a@example.com")]
    seen = healthy(sent)
    assert seen.tasks is not None
    [task] = seen.tasks
    # Closed after the first repeat and before the second: the task counts 2 enquiries of 3.
    seen.tasks[0] = dataclasses.replace(task, state="qualified", enquiries=2, closed_at=closed)
    repeats = [i for i, e in enumerate(seen.outbox) if e.event_type == "lead.duplicate"]
    for i, at in zip(repeats, (closed - H, closed + H), strict=True):
        seen.outbox[i] = dataclasses.replace(seen.outbox[i], at=at)
    assert ("lost", "crm-queue: lead.duplicate not applied") not in stages(account(sent, seen))
    seen.tasks[0] = dataclasses.replace(seen.tasks[0], enquiries=1)  # the earlier one missing
    assert ("lost", "crm-queue: lead.duplicate not applied") in stages(account(sent, seen))


def test_a_person_written_off_may_come_back_as_a_new_lead_but_not_twice_open() -> None:
    sent = [lead("a"), lead("b")]
    seen = healthy(sent)
    assert seen.tasks is not None
    again = Lead(_id("lead"), "t1", "a@example.com")
    seen.leads.append(again)
    seen.outbox.append(Event(_id("event"), "lead.ingested", again.lead_id))
    seen.tasks.append(Task(again.lead_id, "t1", True, 1))
    assert ("duplicated", "intake: two leads for one person") in stages(account(sent, seen))
    seen.tasks[0] = dataclasses.replace(seen.tasks[0], state="lost", outcome="pollution.test")
    result = account(sent, seen)
    assert ("duplicated", "intake: two leads for one person") not in stages(result)


def test_a_person_qualified_may_come_back_as_a_new_lead_too() -> None:
    """Intake merges only into a lead still in first contact: after a qualification, asking
    again makes a new lead (previous_lead_id), which is not a duplicate."""
    sent = [lead("a"), lead("b")]
    seen = healthy(sent)
    assert seen.tasks is not None
    again = Lead(_id("lead"), "t1", "a@example.com")
    seen.leads.append(again)
    seen.outbox.append(Event(_id("event"), "lead.ingested", again.lead_id))
    seen.tasks.append(Task(again.lead_id, "t1", True, 1))
    seen.tasks[0] = dataclasses.replace(seen.tasks[0], state="qualified", outcome="test_drive")
    result = account(sent, seen)
    assert ("duplicated", "intake: two leads for one person") not in stages(result)


def test_late_merges_made_a_new_lead_count_as_that_leads_enquiries() -> None:
    """Intake learnt of a closing after merging two enquiries into the lead: they became a new
    lead (the first its lead.ingested, the second its lead.duplicate); the merges' own
    lead.duplicate events stay on the closed lead."""
    closed_at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    sent = [lead("a"), lead("b", person="a@example.com"), lead("c", person="a@example.com")]
    seen = healthy(sent)
    assert seen.tasks is not None and seen.broker is not None
    [task] = seen.tasks
    old = task.lead_id
    seen.tasks[0] = dataclasses.replace(task, state="qualified", enquiries=1, closed_at=closed_at)
    repeats = [i for i, e in enumerate(seen.outbox) if e.event_type == "lead.duplicate"]
    for i in repeats:
        seen.outbox[i] = dataclasses.replace(seen.outbox[i], at=closed_at + H)
    new = _id("lead")
    seen.leads.append(Lead(new, "t1", "a@example.com"))
    seen.submissions = [
        dataclasses.replace(s, promoted_to=new) if s.outcome == "merged" else s
        for s in seen.submissions
    ]
    made = [Event(_id("event"), "lead.ingested", new), Event(_id("event"), "lead.duplicate", new)]
    seen.outbox += made
    seen.broker += made
    seen.tasks.append(Task(new, "t1", True, 2))
    result = account(sent, seen)
    # (The qualification's own events are not part of this picture.)
    assert stages(result) == {("lost", "crm-queue: no lead.qualified")}, result.problems
    assert result.of("lost")[0].subject == old
    # Its task missing the repeat is still caught.
    seen.tasks[1] = dataclasses.replace(seen.tasks[1], enquiries=1)
    assert ("lost", "crm-queue: lead.duplicate not applied") in stages(account(sent, seen))


def test_an_enquiry_of_an_open_prospect_is_assignments_not_the_tasks() -> None:
    """A person asking again while their lead is an open prospect: merged (no new lead), its
    lead.duplicate for the consultant (stage prospect), not counted on the qualified task, and
    on the prospect in assignment once. Intake publishing it again (the same enquiry, found
    late to be the consultant's) is no second merge anywhere."""
    closed = datetime(2026, 1, 1, 12, tzinfo=UTC)
    sent = [lead("a"), lead("b", person="a@example.com")]
    seen, qualified, _ = worked([*sent, lead("c")])
    assert seen.tasks is not None
    repeat = next(i for i, e in enumerate(seen.outbox) if e.event_type == "lead.duplicate")
    seen.outbox[repeat] = dataclasses.replace(
        seen.outbox[repeat], at=closed + H, enquiry_id="q1", stage="prospect"
    )
    seen.tasks[0] = dataclasses.replace(seen.tasks[0], enquiries=1, closed_at=closed)
    seen.downstream.enquiries = [(qualified, "q1")]
    sent.append(lead("c"))
    assert account(sent, seen).problems == []
    # The same enquiry published first as a first-contact repeat, after the close: still fine.
    seen.outbox.append(
        dataclasses.replace(seen.outbox[repeat], event_id=_id("event"), stage="first_contact")
    )
    assert seen.broker is not None
    seen.broker.append(seen.outbox[-1])
    assert account(sent, seen).problems == []
    seen.downstream.enquiries = []
    assert stages(account(sent, seen)) == {("lost", "assignment: enquiry not on the prospect")}
    seen.downstream.enquiries = [(qualified, "q1"), (qualified, "q2")]
    assert stages(account(sent, seen)) == {("unexpected", "assignment: enquiry intake never sent")}
    # Counted on the task as a first-contact repeat: applied where it should not be.
    seen.downstream.enquiries = [(qualified, "q1")]
    seen.tasks[0] = dataclasses.replace(seen.tasks[0], enquiries=2)
    assert stages(account(sent, seen)) == {("duplicated", "crm-queue: event applied twice")}


def test_enquiries_promoted_to_a_new_lead_are_its_repeats_but_the_first() -> None:
    """Two enquiries merged into a lead intake then learnt had closed before they came: the
    first became a new lead (lead.ingested), the second its repeat."""
    closed = datetime(2026, 1, 1, 12, tzinfo=UTC)
    sent = [lead("a"), lead("b", person="a@example.com"), lead("c", person="a@example.com")]
    seen = healthy(sent)
    assert seen.tasks is not None
    first = seen.leads[0].lead_id
    new = Lead(_id("lead"), "t1", "a@example.com")
    seen.leads.append(new)
    seen.submissions = [
        s if s.outcome == "ingested" else dataclasses.replace(s, promoted_to=new.lead_id)
        for s in seen.submissions
    ]
    repeats = [e for e in seen.outbox if e.event_type == "lead.duplicate"]
    seen.outbox = [
        e if e.event_type == "lead.ingested" else dataclasses.replace(e, at=closed + H)
        for e in seen.outbox
    ]
    seen.outbox.append(Event(_id("event"), "lead.ingested", new.lead_id))
    seen.outbox.append(
        Event(_id("event"), "lead.duplicate", new.lead_id, enquiry_id=repeats[1].event_id)
    )
    assert seen.broker is not None
    seen.broker += seen.outbox[-2:]
    seen.tasks[0] = dataclasses.replace(
        seen.tasks[0], state="lost", outcome="no_interest.follow_up", enquiries=1, closed_at=closed
    )
    seen.tasks.append(Task(new.lead_id, "t1", True, 2))
    seen.downstream.crm_events = [Event(_id("event"), "lead.lost", first)]
    result = account(sent, seen)
    assert result.problems == []

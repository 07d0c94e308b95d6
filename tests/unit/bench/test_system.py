"""bench/system's arithmetic and the queue names it cleans up: figures are only as good as the
counting behind them (the run itself needs the five services: `make bench BENCH=system`)."""

from __future__ import annotations

from bench.intake.json_path import Sent
from bench.system import funnel, load
from scripts.catalogue import SERVICES, declared_queues, select
from shared.messaging.topology import Topology


def test_every_service_queue_and_its_dead_letter_queue_is_named_for_clean_up() -> None:
    names = declared_queues(Topology("ns."))
    for queue in (
        "ns.crm-queue.lead.ingested.v1",
        "ns.metrics.lead.ingested.v1",
        "ns.assignment.lead.qualified.v1",
        "ns.recovery.lead.lost.v1",
    ):
        assert queue in names and f"{queue}.dlq" in names
    assert Topology("ns.").unrouted_name in names
    # One service's names are a part of them all.
    assert declared_queues(Topology("ns."), select(["metrics"])) < names
    assert len(SERVICES) == 5


def _progress(*points: tuple[float, int, int]) -> funnel.Progress:
    return funnel.Progress(
        [funnel.Point(t, tasks, counted) for t, tasks, counted in points], "done"
    )


def test_the_funnel_rate_waits_for_both_the_tasks_and_the_counts() -> None:
    base = funnel.Point(0.0, 100, 90)
    found = _progress((11.0, 150, 100), (12.0, 200, 150), (14.0, 200, 190))
    rates = funnel.rates(found, start=10.0, base=base, leads=100)
    assert rates["tasks_per_s"] == 50.0  # 100 new tasks 2 s after the first POST
    assert rates["counted_per_s"] == 25.0  # metrics counted its 100th 4 s after it
    assert rates["funnel_per_s"] == 25.0 and rates["funnel_s"] == 4.0
    assert (rates["tasks"], rates["counted"]) == (100, 100)


def test_visibility_is_timed_from_the_post_to_the_get_that_showed_the_task() -> None:
    watch = load.QueueWatch("http://x", "secret", "acme", poll_s=0.02)
    watch.sightings = {
        "d1": load.Sighting(0.0, get_sent=1.10, get_answered=1.15, lead_id="lead-1"),
        "d2": load.Sighting(0.0),  # never seen
    }
    sent = {
        "d1": Sent("lead-1", 202, sent=1.0, done=1.01),
        "d2": Sent("lead-2", 202, sent=2.0, done=2.01),
    }
    out = load.visibility(watch, sent)
    assert out["visible_ms"]["p50"] == 150.0
    assert out["visible_get_sent_ms"]["p50"] == 100.0
    assert out["never_visible"] == ["lead-2"] and out["seen"] == 1

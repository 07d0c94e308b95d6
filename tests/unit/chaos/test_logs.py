"""Signals counted in the services' logs, per service over its replicas."""

from __future__ import annotations

from pathlib import Path

from forecourt_chaos.adapters.logs import signals


def test_signals_are_counted_per_service_over_replicas_and_restarts(tmp_path: Path) -> None:
    (tmp_path / "intake-1-1.log").write_text(
        "2026-12-02 00:06:21,505 ERROR intake.service_layer.batching batch of 9 failed\n"
        "asyncpg.exceptions.DeadlockDetectedError: deadlock detected\n"
        "sqlalchemy.exc.DBAPIError: (asyncpg.Error) deadlock detected\n"
        "  Traceback line mentioning nothing\n"
    )
    (tmp_path / "intake-2-3.log").write_text("ERROR:    Application startup failed. Exiting.\n")
    (tmp_path / "crm-queue-1-1.log").write_text(
        "2026-12-02 00:06:21,505 WARNING shared.relay_process[relay] the service went away; "
        "the relay stops\n"
    )
    (tmp_path / "quiet-1-1.log").write_text("all fine\n")
    assert signals(tmp_path) == {
        "intake": {"ERROR lines": 2, "deadlock detected": 1, "startup failed": 1},
        "crm-queue": {"relay stopped, its service gone": 1},
    }

"""Reports the RabbitMQ version the broker tests ran on at the end of the run."""

from __future__ import annotations

import pytest

# Filled by tests/integration/shared/test_broker_versions.py: the versions actually tested.
BROKER_VERSIONS = pytest.StashKey[set[str]]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    versions = config.stash.get(BROKER_VERSIONS, set())
    if versions:
        terminalreporter.write_line(
            "RabbitMQ delivery limit and dead-lettering tested on: " + ", ".join(sorted(versions))
        )

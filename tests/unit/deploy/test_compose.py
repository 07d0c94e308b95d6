"""docker-compose.yml and its opt-in ports override, read as YAML (no Docker engine here)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.paths import REPO_ROOT
from tests.unit.deploy.manifests import (
    LISTENERS,
    SERVICES,
    SUPPORTED_RABBITMQ,
    Service,
    database_name,
    documents,
    http_port,
    rabbitmq_line,
)

[COMPOSE] = documents(REPO_ROOT / "docker-compose.yml")
[PORTS] = documents(REPO_ROOT / "docker-compose.ports.yml")
BY_SERVICE = pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)


def block(name: str) -> dict[str, Any]:
    blocks: dict[str, Any] = COMPOSE["services"]
    return blocks[name]


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, duration
    return int(match[1]) * {"ms": 0.001, "s": 1, "m": 60}[match[2]]


def test_every_catalogue_service_and_the_two_servers_have_a_block() -> None:
    listeners = {name for *_, name in LISTENERS}
    assert set(COMPOSE["services"]) == {s.name for s in SERVICES} | listeners | {
        "postgres",
        "rabbitmq",
    }


@pytest.mark.parametrize(("service", "script", "setting", "name"), LISTENERS, ids=lambda v: v)
def test_a_listener_runs_its_services_image_after_the_service_is_healthy(
    service: Service, script: str, setting: str, name: str
) -> None:
    """The image's entrypoint runs the service itself: the listener replaces it, and starts
    once the service (which migrates the shared database) is healthy."""
    svc = block(name)
    assert svc["image"] == block(service.name)["image"]
    assert svc["entrypoint"] == [script]
    assert svc["depends_on"] == {service.name: {"condition": "service_healthy"}}
    assert seconds(svc["stop_grace_period"]) >= 30
    env = svc["environment"]
    port = env[f"{service.env_prefix}{setting.upper()}"]
    assert (
        env[f"{service.env_prefix}DATABASE_URL"]
        == (block(service.name)["environment"][f"{service.env_prefix}DATABASE_URL"])
    )
    assert f"('127.0.0.1', {port})" in " ".join(svc["healthcheck"]["test"])
    assert any(p.startswith("127.0.0.1:") and p.endswith(f":{port}") for p in svc["ports"])


def test_postgres_is_healthy_only_once_it_answers_over_tcp() -> None:
    """The image's first-boot temporary server listens on the Unix socket only."""
    test = " ".join(block("postgres")["healthcheck"]["test"])
    assert re.search(r"pg_isready .*-h 127\.0\.0\.1", test), test


def test_postgres_and_rabbitmq_are_published_only_with_the_ports_override() -> None:
    for name in ("postgres", "rabbitmq"):
        assert "ports" not in block(name), f"{name} publishes ports by default"
    published = {
        p.rsplit(":", 1)[1]: p
        for name in ("postgres", "rabbitmq")
        for p in PORTS["services"][name]["ports"]
    }
    assert set(published) == {"5432", "5672", "15672"}
    for port in published.values():
        assert port.startswith("127.0.0.1:"), f"{port}: not on the loopback only"


def test_the_broker_is_a_supported_rabbitmq_line() -> None:
    assert rabbitmq_line(block("rabbitmq")["image"]) in SUPPORTED_RABBITMQ


@BY_SERVICE
def test_a_service_is_healthy_when_ready_on_its_own_port(service: Service) -> None:
    svc = block(service.name)
    port = http_port(service)
    assert svc["environment"][f"{service.env_prefix}HTTP_PORT"] == str(port)
    test = " ".join(svc["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in test, test
    assert "/healthz" not in test
    # Published on the host's loopback only (other ports of the block are not this test's).
    assert f"127.0.0.1:${{{service.env_prefix}PORT:-{port}}}:{port}" in svc["ports"]


@BY_SERVICE
def test_a_service_has_time_to_stop_and_waits_for_healthy_servers(service: Service) -> None:
    svc = block(service.name)
    assert seconds(svc["stop_grace_period"]) >= 30  # the relay alone takes up to 15 s
    assert svc["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "rabbitmq": {"condition": "service_healthy"},
    }


@BY_SERVICE
def test_a_service_is_built_as_itself_with_its_own_database(service: Service) -> None:
    svc = block(service.name)
    assert svc["build"]["args"]["SERVICE"] == service.name
    assert svc["image"].startswith(f"forecourt/{service.name}:")
    url = svc["environment"][f"{service.env_prefix}DATABASE_URL"]
    assert url.endswith(f"@postgres:5432/{database_name(service)}")


def test_each_service_has_a_database_of_its_own() -> None:
    urls = [block(s.name)["environment"][f"{s.env_prefix}DATABASE_URL"] for s in SERVICES]
    assert len(set(urls)) == len(urls)


def test_the_development_key_is_accepted_only_because_the_stack_says_development() -> None:
    """Both from the shared block, so FORECOURT_ENV=production in the shell turns the services
    strict, and they then refuse the default key."""
    for service in SERVICES:
        env = block(service.name)["environment"]
        assert env["FORECOURT_ENV"] == "${FORECOURT_ENV:-development}"
        assert env["FORECOURT_JWT_SECRET"].startswith("${FORECOURT_JWT_SECRET")

"""Forecourt's services, in one place, for `make up`, `make docs` and the other scripts.

A new service is one more `Service(...)` here (and one more block in docker-compose.yml).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from shared.messaging.topology import Topology
from shared.settings import ServiceSettings


def load(target: str) -> Any:
    """The object named by `"package.module:attribute"`."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class Service:
    # Service id = folder under services/ (`crm-queue`); the package is its snake-case form.
    name: str
    # The console script of its pyproject: migrates its database, then serves.
    command: str
    # Its pydantic settings (`INTAKE_*` beside the shared `FORECOURT_*`).
    settings: str
    # The factory of its FastAPI app, called without running the lifespan for the OpenAPI spec.
    app_factory: str
    # Registers its AMQP subscribers on a broker: `register(broker, topology)`, for AsyncAPI.
    amqp_register: str | None = None
    # Routing keys its code publishes (through its outbox), for AsyncAPI.
    publishes: tuple[str, ...] = ()
    # Other processes of the service started beside it by `make up`: (console script, the
    # setting holding the TCP port it answers on once ready), e.g. intake's SMTP listener.
    listeners: tuple[tuple[str, str], ...] = ()

    @property
    def package(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return self.package.upper() + "_"

    def load_settings(self) -> ServiceSettings:
        settings: ServiceSettings = load(self.settings)()
        return settings


SERVICES: tuple[Service, ...] = (
    Service(
        name="intake",
        command="forecourt-intake",
        settings="intake.config:IntakeSettings",
        app_factory="intake.entrypoints.http.app:create_app",
        amqp_register="scripts.export_asyncapi:register_intake",
        publishes=(
            "lead.ingested.v1",
            "lead.duplicate.v1",
            "lead.rejected.v1",
            "person.erased.v1",
            "call.received.v1",
        ),
        listeners=(("forecourt-intake-smtp", "smtp_port"),),
    ),
    Service(
        name="crm-queue",
        command="forecourt-crm-queue",
        settings="crm_queue.config:CrmQueueSettings",
        app_factory="crm_queue.entrypoints.http.app:create_app",
        amqp_register="scripts.export_asyncapi:register_crm_queue",
        publishes=(
            "lead.contact_attempted.v1",
            "lead.sla_breached.v1",
            "lead.qualified.v1",
            "lead.lost.v1",
        ),
    ),
    Service(
        name="assignment",
        command="forecourt-assignment",
        settings="assignment.config:AssignmentSettings",
        app_factory="assignment.entrypoints.http.app:create_app",
        amqp_register="scripts.export_asyncapi:register_assignment",
        publishes=(
            "prospect.assigned.v1",
            "prospect.reassigned.v1",
            "prospect.escalated.v1",
            "prospect.won.v1",
            "prospect.lost.v1",
        ),
    ),
    Service(
        name="recovery",
        command="forecourt-recovery",
        settings="recovery.config:RecoverySettings",
        app_factory="recovery.entrypoints.http.app:create_app",
        amqp_register="scripts.export_asyncapi:register_recovery",
        publishes=(
            "recovery.scheduled.v1",
            "recovery.attempted.v1",
            "recovery.ended.v1",
            "lead.reactivated.v1",
            "lead.bought_elsewhere.v1",
            "lead.dead.v1",
        ),
    ),
    Service(
        name="metrics",
        command="forecourt-metrics",
        settings="metrics.config:MetricsSettings",
        app_factory="metrics.entrypoints.http.app:create_app",
        amqp_register="scripts.export_asyncapi:register_metrics",
    ),
)


def select(names: list[str] | None) -> list[Service]:
    """The services named (all when none is), in catalogue order; unknown names raise."""
    if not names:
        return list(SERVICES)
    known = {s.name: s for s in SERVICES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in SERVICES if s.name in names]


def declared_queues(topology: Topology, services: list[Service] | None = None) -> set[str]:
    """Every queue `services` (all when None) declare in `topology`'s namespace, with their
    dead-letter queues and the unrouted one, by registering their consumers on a broker that
    never connects: what a test or benchmark on a shared broker deletes afterwards."""
    from faststream.rabbit import RabbitBroker

    names: set[str] = set()
    recording = Topology(topology.namespace, topology.delivery_limit, record=names)
    for service in services if services is not None else SERVICES:
        if service.amqp_register is not None:
            load(service.amqp_register)(RabbitBroker(), recording)
    for name in list(names):
        recording.dead_letter_queue(name)
    recording.unrouted_queue()
    return names

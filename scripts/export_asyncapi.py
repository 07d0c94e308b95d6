"""Write each service's AsyncAPI 3.0 spec (faststream) to docs/asyncapi/<service>.json.

The broker is built as the service builds it and its subscribers registered by the service's
own code, but it never connects. Publishers are declared here from the catalogue's `publishes`,
since services publish through the outbox relay rather than faststream publishers.
`--check` writes nothing and exits 1 when a committed spec differs from the code.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI

from scripts.catalogue import Service, load, select
from scripts.export_openapi import REPO_ROOT, render, report, sync_files
from shared.contracts.envelope import envelope_type
from shared.contracts.registry import REGISTRY
from shared.messaging.broker import create_broker
from shared.messaging.topology import Topology
from shared.runtime import Runtime
from shared.settings import CommonSettings, ServiceSettings

OUT_DIR = REPO_ROOT / "docs" / "asyncapi"
DOCUMENTED_BROKER = "amqp://127.0.0.1:5672/"


def register_intake(broker: RabbitBroker, topology: Topology) -> None:
    from intake.entrypoints import amqp
    from intake.service_layer.receive import Receiver
    from intake.service_layer.sources import SourceKeys
    from shared.clock import SystemClock

    amqp.register(
        broker,
        topology,
        Receiver(_no_database, SystemClock(), max_adf_bytes=1),
        _no_database,
        SourceKeys(_no_database, ttl=0),
    )


def _runtime(broker: RabbitBroker, topology: Topology, settings: ServiceSettings) -> Runtime:
    """A service's runtime on `broker`, whose database is never connected to: nothing runs."""
    from shared.db import create_engine, session_factory
    from shared.outbox import OutboxRelay

    engine = create_engine(settings.database_url)
    relay = OutboxRelay(engine, settings.common.amqp_url, topology)
    return Runtime(settings, topology, engine, session_factory(engine), broker, relay)


def _no_database() -> Any:
    raise RuntimeError("documentation only: nothing is handled")


def register_crm_queue(broker: RabbitBroker, topology: Topology) -> None:
    from crm_queue.config import CrmQueueSettings
    from crm_queue.entrypoints import amqp
    from shared.clock import SystemClock

    amqp.register(_runtime(broker, topology, CrmQueueSettings()), _no_database, SystemClock())


def register_assignment(broker: RabbitBroker, topology: Topology) -> None:
    from assignment.config import AssignmentSettings
    from assignment.entrypoints import amqp
    from shared.clock import SystemClock

    amqp.register(_runtime(broker, topology, AssignmentSettings()), _no_database, SystemClock())


def register_recovery(broker: RabbitBroker, topology: Topology) -> None:
    from recovery.config import RecoverySettings
    from recovery.entrypoints import amqp
    from shared.clock import SystemClock

    amqp.register(_runtime(broker, topology, RecoverySettings()), _no_database, SystemClock())


def register_metrics(broker: RabbitBroker, topology: Topology) -> None:
    from metrics.config import MetricsSettings
    from metrics.entrypoints import amqp
    from metrics.entrypoints.observe import Observer

    amqp.register(_runtime(broker, topology, MetricsSettings()), _no_database, Observer())


def asyncapi(service: Service) -> str:
    # Fixed values, not the environment's: the committed spec must not depend on who wrote it.
    common = CommonSettings(amqp_url=DOCUMENTED_BROKER, namespace="")
    topology = Topology(common.namespace, common.delivery_limit)
    broker = create_broker(common, app_id=service.name)
    if service.amqp_register:
        load(service.amqp_register)(broker, topology)
    by_key = {cls.routing_key(): cls for cls in REGISTRY.values()}
    for key in service.publishes:
        cls = by_key[key]
        broker.publisher(
            key,
            exchange=topology.events_exchange(),
            schema=envelope_type(cls),
            title=f"{key}:publish",
            description=(cls.__doc__ or "").strip() or None,
        )
    spec: Any = (
        AsyncAPI(
            broker,
            title=f"Forecourt {service.name}",
            version="0.1.0",
            description=f"Messages {service.name} consumes and publishes (docs/events.md).",
            schema_version="3.0.0",
        )
        .to_specification()
        .to_jsonable()
    )
    return render(spec)


def main(
    services: Annotated[list[str] | None, typer.Argument(help="services (default: all)")] = None,
    check: Annotated[bool, typer.Option(help="compare only; exit 1 if out of date")] = False,
) -> None:
    rendered = {OUT_DIR / f"{s.name}.json": asyncapi(s) for s in select(services)}
    report(sync_files(rendered, check=check), check=check)


if __name__ == "__main__":
    typer.run(main)

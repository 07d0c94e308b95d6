"""Every service of the catalogue as an OS process on the machine's own PostgreSQL and RabbitMQ
(the ones `make up` uses), each on a database of its own and all under a namespace of their
own, so a run never touches `make up`'s data or another run's; `stop()` removes the processes,
the databases, and every queue and exchange the services declared.

The processes are `shared.testing.services.ServiceProcess` (the console script, migrate then
serve), as the end-to-end tests start them; `forecourt simulate`, its end-to-end test and the
system benchmark start the whole system through here. Unlike the chaos harness's `Stack` no
private broker or cluster is built: nothing here needs root.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from forecourt_chaos import repo
from shared.auth import issue_token
from shared.db import drop_database, ensure_database
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.testing.services import ServiceProcess, delete_names

repo.importable()
from scripts.catalogue import SERVICES, declared_queues  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class LocalSystem:
    """`tag` names the run's databases (`fc_<tag>_<service>`) and namespace (`<tag>.`); `env`
    goes to every process (`FORECOURT_*` as is, others prefixed with the service's own)."""

    tag: str
    pg_server_url: str = DEFAULT_PG
    amqp_url: str = DEFAULT_AMQP
    env: Mapping[str, str] = field(default_factory=dict)
    delivery_limit: int = 20
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.topology = Topology(f"{self.tag}.", self.delivery_limit)
        self.common = CommonSettings(
            env="development",
            amqp_url=self.amqp_url,
            namespace=self.topology.namespace,
            delivery_limit=self.delivery_limit,
            jwt_secret=SecretStr(secrets.token_urlsafe(48)),
        )
        self.databases = {
            s.name: make_url(self.pg_server_url)
            .set(database=f"fc_{self.tag}_{s.package}")
            .render_as_string(hide_password=False)
            for s in SERVICES
        }

    @classmethod
    def fresh(cls, prefix: str = "sim", **kw: object) -> LocalSystem:
        return cls(f"{prefix}{secrets.token_hex(4)}", **kw)  # type: ignore[arg-type]

    def url(self, service: str) -> str:
        return self.processes[service].base_url

    def token(self, tenant: str, role: str, subject: str, dealerships: tuple[str, ...] = ()) -> str:
        return issue_token(
            self.common,
            subject=subject,
            role=role,  # type: ignore[arg-type]
            tenant=tenant,
            dealerships=dealerships,
        )

    async def start(self, ready_within: float = 300.0) -> None:
        """Create the databases, start every service, wait until each answers `/readyz`."""
        await asyncio.gather(*(ensure_database(url) for url in self.databases.values()))
        env = {"FORECOURT_ENV": "development"} | dict(self.env)
        for service in SERVICES:
            self.processes[service.name] = ServiceProcess.start(
                service.name,
                database_url=self.databases[service.name],
                common=self.common,
                env=env,
            )
        await asyncio.gather(*(p.wait_ready(ready_within) for p in self.processes.values()))

    def log_tails(self, lines: int = 20) -> dict[str, str]:
        return {name: p.log_tail(lines) for name, p in self.processes.items()}

    async def stop(self) -> None:
        """Stop the processes, drop the databases, delete the queues and exchanges."""
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in self.processes.values()))
        self.processes.clear()
        await asyncio.gather(*(drop_database(url) for url in self.databases.values()))
        await delete_names(self.amqp_url, self.topology, declared_queues(self.topology))


def clock_file(folder: Path, tag: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{tag}.clock"

"""Settings every service shares, read from the environment (pydantic-settings).

Cross-service values use the `FORECOURT_` prefix (one broker, one signing key for staff tokens);
each service adds its own with its own prefix (`INTAKE_DATABASE_URL`, ...).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECOURT_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Prefix of every exchange and queue name: empty in production, unique per test run so runs
    # sharing one broker never see each other's messages.
    namespace: str = ""
    jwt_secret: SecretStr = SecretStr("dev-only-change-me-forecourt-signing-key")
    jwt_audience: str = "forecourt"
    jwt_issuer: str = "forecourt"
    delivery_limit: int = Field(default=20, ge=1)
    prefetch: int = Field(default=64, ge=1)
    log_level: str = "INFO"


class ServiceSettings(BaseSettings):
    """Base of each service's settings; subclasses set `env_prefix`."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str
    # Connections of the service's own pool, per process (each `<SERVICE>_WORKERS` worker has
    # one). Small: PostgreSQL serves 100 connections by default and every service, relay,
    # listener and test run shares them; handlers hold one for milliseconds and queue for it
    # (docs/operations.md, Database connections).
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=2, ge=0)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # HTTP worker processes, each a full replica (its own relay, consumers, workers): one
    # Python process is bound to one core by the GIL. 1: the service runs in this process.
    workers: int = Field(default=1, ge=1)
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    run_relay: bool = True
    # Where the relay runs: "thread" (own thread and event loop: requests in flight never delay
    # events), "process" (a child process: beside the service rather than sharing its GIL),
    # "loop" (the service's own event loop). See docs/operations.md, Throughput.
    relay_mode: Literal["thread", "process", "loop"] = "thread"
    common: CommonSettings = Field(default_factory=CommonSettings)

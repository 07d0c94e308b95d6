"""recovery's settings (`RECOVERY_*`), beside the shared `FORECOURT_*` ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.http import DEFAULT_MAX_BODY_BYTES
from shared.settings import ServiceSettings


class RecoverySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECOVERY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/recovery"
    http_port: int = 8004
    # A request body past it answers 413, before it is read (`shared.http.limit_body`).
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    # Fire due follow-ups in this process (any number of replicas may).
    run_scanner: bool = True
    # Runs fired per transaction: past ~500 a batch gains little and holds its rows longer.
    scanner_batch_size: int = Field(default=500, ge=1, le=10_000)
    scanner_max_sleep_seconds: float = Field(default=30.0, gt=0)
    lease_minutes: float = Field(default=10.0, gt=0, le=8 * 60)

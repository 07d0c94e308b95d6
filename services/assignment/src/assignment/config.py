"""assignment's settings (`ASSIGNMENT_*`), beside the shared `FORECOURT_*` ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.http import DEFAULT_MAX_BODY_BYTES
from shared.settings import ServiceSettings


class AssignmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASSIGNMENT_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/assignment"
    http_port: int = 8003
    # A request body past it answers 413, before it is read (`shared.http.limit_body`).
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    run_timers: bool = True
    timer_max_sleep_seconds: float = Field(default=30.0, gt=0)

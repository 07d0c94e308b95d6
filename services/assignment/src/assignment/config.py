"""assignment's settings (`ASSIGNMENT_*`), beside the shared `FORECOURT_*` ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AssignmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASSIGNMENT_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/assignment"
    http_port: int = 8003
    run_timers: bool = True
    timer_max_sleep_seconds: float = Field(default=30.0, gt=0)

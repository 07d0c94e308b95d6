"""crm-queue's settings (`CRM_QUEUE_*`), beside the shared `FORECOURT_*` ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class CrmQueueSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_QUEUE_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_queue"
    http_port: int = 8002
    run_timers: bool = True
    timer_max_sleep_seconds: float = Field(default=30.0, gt=0)
    # lead.ingested / lead.duplicate events handled per transaction (at most FORECOURT_PREFETCH,
    # the deliveries a consumer holds); 1 handles each on its own.
    max_batch: int = Field(default=50, ge=1)

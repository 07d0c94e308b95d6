"""metrics' settings (`METRICS_*`), beside the shared `FORECOURT_*` ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/metrics"
    http_port: int = 8005
    # metrics publishes nothing: no outbox relay unless asked.
    run_relay: bool = False
    # The persistence minimum a loss is compared with, when the request does not say
    # (crm-queue's default policy; lead.lost does not carry the dealership's own).
    min_attempts: int = Field(default=6, ge=1, le=100)
    # Funnel gauges on /metrics are recomputed at most this often.
    gauge_refresh_seconds: float = Field(default=15.0, ge=0)

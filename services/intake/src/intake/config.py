"""Intake's settings (`INTAKE_*`), beside the shared `FORECOURT_*` ones."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/intake"
    http_port: int = 8001
    # The relay in a child process: measured, bulk events keep up with the job (52 s behind on
    # 100,000 rows with a relay thread) and POST -> lead.ingested p99 at 100 leads/s is 37 ms
    # (62 ms). See docs/operations.md, Throughput.
    relay_mode: Literal["thread", "process", "loop"] = "process"
    max_json_bytes: int = Field(default=256_000, ge=1024)
    max_adf_bytes: int = Field(default=2_000_000, ge=1024)
    # <prospect>s per ADF document: each is a lead judged on the event loop.
    max_adf_prospects: int = Field(default=100, ge=1)
    max_bulk_bytes: int = Field(default=1_000_000_000, ge=1024)
    max_bulk_rows: int = Field(default=1_000_000, ge=1)
    # Rows per bulk transaction. Measured against 500 (40,000 rows, alternating runs): 1,000 gave
    # +5-8% rows/s and 5% less CPU per row, its events trail the job by ~0.5 s instead of ~0.2 s;
    # 2,000 gave +7-10% but held its people's dedup locks ~2.5 s, which a JSON lead for the same
    # person would wait out.
    bulk_batch_size: int = Field(default=1000, ge=1)
    run_bulk_worker: bool = True
    # Failed tries of a bulk job (database outages not counted) before it is marked failed.
    bulk_max_attempts: int = Field(default=5, ge=1)
    # Concurrent leads share transactions (see service_layer/batching.py); 0 workers: one by one.
    batch_workers: int = Field(default=2, ge=0)
    max_batch: int = Field(default=200, ge=1)
    # A verified API key is trusted this long without a query; a key revoked on another replica
    # keeps working here at most this long (0: look every key up).
    key_cache_seconds: float = Field(default=5.0, ge=0)
    # Raw payloads left pending this long (a crash mid-request) are processed again.
    stale_raw_seconds: float = Field(default=60.0, gt=0)

    # --- intake by e-mail (`forecourt-intake-smtp`) ---
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    # Every source takes mail at `<source id>@<smtp_domain>` (and at the address an admin sets).
    smtp_domain: str = "leads.forecourt.localhost"
    # A message larger than this is refused (552) before its data is read: SIZE is advertised.
    smtp_max_bytes: int = Field(default=10_000_000, ge=1024)
    smtp_max_recipients: int = Field(default=20, ge=1)
    # STARTTLS is offered when both are set (PEM files); one without the other, or a file that
    # cannot be loaded, stops the listener at start.
    smtp_tls_cert: str | None = None
    smtp_tls_key: str | None = None
    # Refuse every command but EHLO, NOOP, STARTTLS and QUIT (530) until STARTTLS: no lead
    # crosses the network in clear. Needs the certificate and key.
    smtp_require_tls: bool = False

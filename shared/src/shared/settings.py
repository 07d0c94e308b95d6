"""Settings every service shares, read from the environment (pydantic-settings).

Cross-service values use the `FORECOURT_` prefix (one broker, one signing key for staff tokens);
each service adds its own with its own prefix (`INTAKE_DATABASE_URL`, ...).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The signing key every checkout knows: fine on a laptop, a forgery kit anywhere else.
DEVELOPMENT_JWT_SECRET = "dev-only-change-me-forecourt-signing-key"  # noqa: S105
# HS256 wants a key at least as long as its hash: 32 bytes.
MIN_JWT_SECRET_BYTES = 32


class UnsafeSettings(Exception):
    """Settings a service must not start with outside development."""


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECOURT_", extra="ignore")

    # "production" unless told otherwise: a deployment that forgets the variable is held to
    # the strict rules; `make up` sets "development" (scripts/up.py).
    env: Literal["development", "production"] = "production"

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Prefix of every exchange and queue name: empty in production, unique per test run so runs
    # sharing one broker never see each other's messages.
    namespace: str = ""
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_audience: str = "forecourt"
    jwt_issuer: str = "forecourt"
    delivery_limit: int = Field(default=20, ge=1)
    prefetch: int = Field(default=64, ge=1)
    log_level: str = "INFO"
    # A file holding an offset in seconds added to the system's time (shared.clock.OffsetClock):
    # `forecourt simulate` moves every service's clock with it. Development only.
    clock_file: str | None = None

    def check_safe(self) -> None:
        """Raise `UnsafeSettings` if a service must refuse to start with these settings:
        outside development, the signing key must be neither the development one (anyone can
        sign an admin token with it) nor short, and no clock file may move its time. Checked at
        start (shared.runtime.serve), not at construction: tools that never sign or check a
        token (replay, docs export) need no key.
        """
        if self.env == "development":
            return
        if self.clock_file:
            raise UnsafeSettings(
                "FORECOURT_CLOCK_FILE moves the service's clock: it is for simulations on a "
                "developer's machine (FORECOURT_ENV=development), never elsewhere."
            )
        secret = self.jwt_secret.get_secret_value()
        if secret == DEVELOPMENT_JWT_SECRET:
            raise UnsafeSettings(
                "FORECOURT_JWT_SECRET is the development key, which anyone can read in the "
                "source: set a long random value (e.g. `openssl rand -base64 48`), or "
                "FORECOURT_ENV=development on a developer's machine."
            )
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise UnsafeSettings(
                f"FORECOURT_JWT_SECRET is {len(secret.encode())} bytes long: at least "
                f"{MIN_JWT_SECRET_BYTES} are needed outside development (FORECOURT_ENV="
                f"{self.env}); e.g. `openssl rand -base64 48`."
            )


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

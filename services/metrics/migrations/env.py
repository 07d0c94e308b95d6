import os

from alembic import context

from metrics.adapters.tables import metadata
from shared.migrations import run_env

if not context.config.get_main_option("sqlalchemy.url"):
    from metrics.config import MetricsSettings

    context.config.set_main_option(
        "sqlalchemy.url",
        os.environ.get("METRICS_DATABASE_URL") or MetricsSettings().database_url,
    )

run_env(metadata)

import os

from alembic import context

from recovery.adapters.tables import metadata
from shared.migrations import run_env

if not context.config.get_main_option("sqlalchemy.url"):
    from recovery.config import RecoverySettings

    context.config.set_main_option(
        "sqlalchemy.url",
        os.environ.get("RECOVERY_DATABASE_URL") or RecoverySettings().database_url,
    )

run_env(metadata)

import os

from alembic import context

from intake.adapters.tables import metadata
from shared.migrations import run_env

if not context.config.get_main_option("sqlalchemy.url"):
    from intake.config import IntakeSettings

    context.config.set_main_option(
        "sqlalchemy.url", os.environ.get("INTAKE_DATABASE_URL") or IntakeSettings().database_url
    )

run_env(metadata)

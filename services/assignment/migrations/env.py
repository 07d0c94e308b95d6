import os

from alembic import context

from assignment.adapters.tables import metadata
from shared.migrations import run_env

if not context.config.get_main_option("sqlalchemy.url"):
    from assignment.config import AssignmentSettings

    context.config.set_main_option(
        "sqlalchemy.url",
        os.environ.get("ASSIGNMENT_DATABASE_URL") or AssignmentSettings().database_url,
    )

run_env(metadata)

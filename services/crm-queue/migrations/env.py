import os

from alembic import context

from crm_queue.adapters.tables import metadata
from shared.migrations import run_env

if not context.config.get_main_option("sqlalchemy.url"):
    from crm_queue.config import CrmQueueSettings

    context.config.set_main_option(
        "sqlalchemy.url",
        os.environ.get("CRM_QUEUE_DATABASE_URL") or CrmQueueSettings().database_url,
    )

run_env(metadata)

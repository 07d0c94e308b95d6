"""Where the benchmarks find RabbitMQ and PostgreSQL unless told otherwise: the local ones."""

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

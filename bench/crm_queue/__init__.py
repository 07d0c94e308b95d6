"""crm-queue benchmark: tasks/s from a backlog of lead.ingested, publish → visible latency."""

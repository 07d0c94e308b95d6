"""Metrics: events/s projected, and KPI query latency over ten million events."""

"""Benchmarks of Forecourt's services: `uv run python -m bench.<service>`."""

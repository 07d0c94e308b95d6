"""Developer scripts: run them from the repository root with `uv run python -m scripts.<name>`."""

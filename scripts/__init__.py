"""Developer scripts: run them from the repository root, `.venv/bin/python -m scripts.<name>`."""

# Forecourt: the two commands are `make up` (run the system) and `make test` (lint + every test).
# Everything runs through uv; `make install` gets uv with pip when it is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv from PATH, else the one pip installed (`python3 -m uv` finds it even off PATH).
UV ?= $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen
# Extra arguments: `make test PYTEST_ARGS="-k outbox -x"`, `make bench ARGS="--help"`.
PYTEST_ARGS ?=
ARGS ?=
# Which benchmark `make bench` runs (a package of bench/): intake, crm_queue, intake_email,
# recovery, assignment, metrics, system (the five services together).
BENCH ?= intake

.PHONY: help install lint test up down bench chaos soak simulate contracts docs docs-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## install uv if missing, then the locked environment (.venv)
	@if ! command -v uv >/dev/null 2>&1 && ! $(PYTHON) -m uv --version >/dev/null 2>&1; then \
		echo "uv not found: installing it with pip"; \
		$(PYTHON) -m pip install --user --quiet uv \
		|| $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --user --quiet --break-system-packages uv; \
	fi
	$(UV) sync --frozen

lint: install ## ruff check, ruff format --check, mypy, generated docs up to date
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) mypy scripts bench
	@$(MAKE) --no-print-directory docs-check

test: install lint ## lint, then the whole pytest suite (needs PostgreSQL and RabbitMQ)
	$(RUN) pytest $(PYTEST_ARGS)

up: install ## run every service locally in the foreground; Ctrl-C stops them
	$(RUN) python -m scripts.up $(ARGS)

down: ## stop a `make up` running in another shell or in the background
	$(RUN) python -m scripts.up --stop

bench: install ## benchmarks (figures, not pass/fail): BENCH=intake|crm_queue|intake_email|recovery|assignment|metrics|system
	$(RUN) python -m bench.$(BENCH) $(ARGS)

chaos: install ## forecourt chaos: faults while leads pour in, every lead accounted for (ARGS=...)
	$(RUN) forecourt chaos $(ARGS)

soak: install ## forecourt soak: a steady load, failing on steady growth (ARGS=...)
	$(RUN) forecourt soak $(ARGS)

simulate: install ## forecourt simulate: a dealer group driven through the services, KPIs beside the ground truth (ARGS=...)
	$(RUN) forecourt simulate $(ARGS)

contracts: install ## regenerate the JSON-Schema snapshots of the event contracts
	$(RUN) python -m shared.contracts.snapshot

docs: install ## regenerate docs/openapi/*.json and docs/asyncapi/*.json
	$(RUN) python -m scripts.export_openapi
	$(RUN) python -m scripts.export_asyncapi

docs-check: ## fail if docs/openapi or docs/asyncapi differ from the code
	$(RUN) python -m scripts.export_openapi --check
	$(RUN) python -m scripts.export_asyncapi --check

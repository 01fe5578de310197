# Liaison: `make run` starts the embedded stack, `make test` runs lint and the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint unit install install-dev openapi clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==25.3"

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(STAMP)

install: $(STAMP)
install-dev: $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/liaison migrate
	$(BIN)/liaison dev

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gateway adapters fhir_profiles workers

# Both profiles: the services tests run when PostgreSQL and Redis answer, and must run
# when CI=true (tests/conftest.py turns a missing service into a failure there).
test: lint
	$(BIN)/pytest -q -ra

openapi: $(DEV_STAMP)
	$(BIN)/python -m gateway.openapi_export > openapi.yaml

clean:
	rm -rf $(VENV) .liaison .mypy_cache .ruff_cache .pytest_cache

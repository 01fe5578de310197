# Liaison: `make run` starts the embedded stack, `make test` runs lint and the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint unit install install-dev openapi clean peers browser fonts chaos fuzz bench

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
	$(BIN)/lint-imports

# Both profiles: the services tests run when PostgreSQL and Redis answer, and must run
# when CI=true (tests/conftest.py turns a missing service into a failure there).
# The independent FHIR server the adapter tests talk to (Medplum's FHIR router, from the npm
# registry, locked by tests/peers/medplum/package-lock.json).
PEERS_STAMP := tests/peers/medplum/node_modules/.installed
$(PEERS_STAMP): tests/peers/medplum/package.json tests/peers/medplum/package-lock.json
	cd tests/peers/medplum && npm ci --no-audit --no-fund --loglevel=error
	touch $@

peers: $(PEERS_STAMP)

# Debian's Chromium for the browser tests (tests/e2e/*_browser.py): Playwright drives it by
# executable_path and never downloads a browser of its own. Installed here when missing, as
# `make bench` does for wrk, so a fresh machine needs nothing but `make test`.
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

# Debian's DejaVu fonts, which the Send Document letter embeds (LIAISON_LETTER__FONT_DIR).
fonts:
	test -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf || (apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core)

test: lint peers browser fonts
	$(BIN)/pytest -q -ra

# The full chaos run (1,000 recommendations, Redis then RabbitMQ, PostgreSQL restarted too);
# writes docs/RELIABILITY.md. `make test` runs the bounded one (tests/chaos/test_chaos_bounded.py).
chaos: $(DEV_STAMP)
	$(BIN)/python -m tests.chaos.run

# A longer, random Schemathesis run against openapi.yaml and the page forms, on PostgreSQL;
# writes its figures to docs/RELIABILITY.md (`make test` runs a bounded, derandomised pass).
fuzz: $(DEV_STAMP)
	$(BIN)/python -m tests.gateway.api_fuzz --examples 200 --report docs/RELIABILITY.md \
		--postgres

# Benchmarks (bench/, never part of `make test`): each figure beside its ceiling on this
# machine, appended to docs/BENCHMARKS.md. Needs PostgreSQL on 127.0.0.1:5432, redis-server
# and wrk (Debian's, installed here when missing); starts and stops its own processes.
bench: $(DEV_STAMP)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y --no-install-recommends wrk)
	$(BIN)/python -m bench.run

openapi: $(DEV_STAMP)
	$(BIN)/python -m gateway.openapi_export > openapi.yaml

clean:
	rm -rf $(VENV) .liaison .mypy_cache .ruff_cache .pytest_cache

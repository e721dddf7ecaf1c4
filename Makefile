# CNN Lens — `make up` runs everything, `make test` runs the tests. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint worker dashboard bench bench-quick install browsers clean format

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[worker,dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/python scripts/up.py

# One more set of workers (training, extraction, analysis) against the configured broker and store
# (what a second machine runs).
worker: $(STAMP)
	$(BIN)/python scripts/up.py --worker-only

dashboard: $(STAMP)
	$(BIN)/python -m dashboard

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared dashboard worker benchmarks
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Debian's Chromium drives the browser tests; install it when missing (root only, best effort).
browsers:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "chromium missing: browser tests will be skipped"; }

test: $(STAMP) browsers lint
	$(BIN)/pytest -q

# The full benchmarks (~20 min on two cores) write benchmarks/latest.{json,md}; bench-quick is a
# smoke run on tiny data that writes to a temporary folder instead.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) var test-output .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

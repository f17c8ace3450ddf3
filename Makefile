# The two commands a newcomer needs:  make run  and  make test.
# Both create .venv and install what they need first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres lint install dev-install clean bench

$(BIN)/hotline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.test-deps: $(BIN)/hotline
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/hotline

run: $(BIN)/hotline
	$(BIN)/hotline serve

lint: $(VENV)/.test-deps
	$(BIN)/ruff check hotline tests bench
	$(BIN)/mypy hotline

test-sqlite: $(VENV)/.test-deps
	env -u DATABASE_URL $(BIN)/python -m pytest -q

test-postgres: $(VENV)/.test-deps
	@if $(BIN)/python -m hotline.testing.pgcheck "$(PG_URL)"; then \
		DATABASE_URL="$(PG_URL)" $(BIN)/python -m pytest -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL at $(PG_URL) is not reachable and CI=true: failing." >&2; exit 1; \
	else \
		echo "PostgreSQL at $(PG_URL) is not reachable: skipping the PostgreSQL run (set CI=true to fail instead)." >&2; \
	fi

test: lint test-sqlite test-postgres

bench: $(VENV)/.test-deps
	$(BIN)/python bench/crypto.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

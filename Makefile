# The two commands a newcomer needs:  make run  and  make test.
# Both create .venv and install what they need first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres lint install browser clean bench profile-deps

$(BIN)/hotline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.test-deps: $(BIN)/hotline
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

# py-spy, to see where a benchmark's server processes spend their CPU (py-spy record --pid …).
$(VENV)/.profile-deps: $(BIN)/hotline
	$(BIN)/pip install --quiet -e '.[profile]'
	@touch $@

profile-deps: $(VENV)/.profile-deps

# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

install: $(BIN)/hotline

run: $(BIN)/hotline
	$(BIN)/hotline serve

lint: $(VENV)/.test-deps
	$(BIN)/ruff check hotline tests bench
	$(BIN)/mypy hotline
	$(BIN)/mypy --explicit-package-bases bench

test-sqlite: $(VENV)/.test-deps browser
	env -u DATABASE_URL HOTLINE_DATA_DIR=$(CURDIR)/var/test-sqlite $(BIN)/python -m pytest -q

test-postgres: $(VENV)/.test-deps browser
	@if $(BIN)/python -m hotline.testing.pgcheck "$(PG_URL)"; then \
		DATABASE_URL="$(PG_URL)" HOTLINE_DATA_DIR=$(CURDIR)/var/test-postgres $(BIN)/python -m pytest -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL at $(PG_URL) is not reachable and CI=true: failing." >&2; exit 1; \
	else \
		echo "PostgreSQL at $(PG_URL) is not reachable: skipping the PostgreSQL run (set CI=true to fail instead)." >&2; \
	fi

# All three run whatever the others give (a SQLite failure must not hide what PostgreSQL says), then
# the target fails, naming each part that failed.
test: $(VENV)/.test-deps browser
	@failed=""; \
	$(MAKE) --no-print-directory lint || failed="$$failed lint"; \
	$(MAKE) --no-print-directory test-sqlite || failed="$$failed test-sqlite"; \
	$(MAKE) --no-print-directory test-postgres || failed="$$failed test-postgres"; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed" >&2; exit 1; fi; \
	echo "make test: lint, test-sqlite and test-postgres passed"

bench: $(VENV)/.test-deps
	$(BIN)/python bench/crypto.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

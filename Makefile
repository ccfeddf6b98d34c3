# The two commands of the README: `make test` (lint, types, every test) and, with the orchestration
# issue, `make demo`. Both bootstrap everything from a bare Python 3.11: a private uv in .tools/, then
# the locked environment in .venv/.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

NPM ?= npm
WEB := web
export NEXT_TELEMETRY_DISABLED := 1

.PHONY: test setup lint types unit demo clean web web-lint web-test browser

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: setup
	$(BIN)/mypy

# The console: its locked packages, then a production build the browser tests serve with `next start`.
$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && $(NPM) ci --no-audit --no-fund
	touch $@

web: $(WEB)/node_modules/.installed
	cd $(WEB) && $(NPM) run build

web-lint: $(WEB)/node_modules/.installed
	cd $(WEB) && $(NPM) run lint

web-test: $(WEB)/node_modules/.installed
	cd $(WEB) && $(NPM) test

# Debian's Chromium for the browser tests (Playwright's own download does not work offline).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

unit: setup web browser
	$(BIN)/pytest

test: lint web-lint types web-test unit

# The main job: Prefect server, simulated venue with 2-minute rounds, the round deployment served on paper.
demo: setup web
	$(BIN)/btc-agent demo

clean:
	rm -rf $(TOOLS) $(VENV) .mypy_cache .ruff_cache .pytest_cache $(WEB)/node_modules $(WEB)/.next test-output

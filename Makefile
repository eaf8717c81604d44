# FabLab Hub: `make demo` runs the whole center on embedded defaults; `make test` checks everything.
# Both install what they need into .venv (and, for the tests, the system's Chromium) on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APT_PACKAGES := chromium fonts-noto-core mosquitto prometheus
STAMP_RUN := $(VENV)/.run-$(shell sha1sum pyproject.toml | cut -c1-12)
STAMP_TEST := $(VENV)/.test-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: demo test lint pytest install install-test system-packages assets bench clean messages

demo: install assets
	$(BIN)/fablab demo $(ARGS)

test: install-test system-packages assets lint pytest

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: install-test
	$(BIN)/python -m tests.preflight
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(STAMP_RUN)
install-test: $(STAMP_TEST)

$(STAMP_RUN):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): $(STAMP_RUN)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Debian's Chromium drives the browser tests; mosquitto is started by the broker-outage tests;
# prometheus brings promtool, which checks deploy/prometheus/alerts.yml.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Front-end packages come from the npm registry, pinned in package.json / package-lock.json;
# npm ci runs again when the lock file is newer than what node_modules/ was installed from.
assets:
	@if [ -f package.json ]; then \
		if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
			npm ci --silent --no-audit --no-fund; \
		fi; \
		$(BIN)/python -m web.assets; \
	fi

# Refresh the translation catalogues from the pages, templates and domain messages (web/i18n.py).
messages: install-test
	$(BIN)/pybabel extract -F web/babel.cfg --sort-by-file --no-location \
		$$($(BIN)/python -c 'from web.i18n import MESSAGE_KEYWORDS as k; print(" ".join("-k " + w for w in k))') \
		-o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching

bench: install-test
	$(BIN)/python tests/bench/bench_booking.py
	$(BIN)/python tests/bench/bench_cpu.py
	$(BIN)/python tests/bench/bench_ingest.py
	$(BIN)/python tests/bench/bench_gateway.py
	$(BIN)/python tests/bench/bench_hostile.py
	$(BIN)/python tests/bench/bench_enumeration.py
	$(BIN)/python tests/bench/bench_processes.py

clean:
	rm -rf $(VENV) node_modules web/static/vendor .mypy_cache .ruff_cache .pytest_cache

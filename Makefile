# make run: serve the models in running_model/ on 127.0.0.1:8000 (PORT=... to change)
# make test: run the test suite, browser tests included. Both create .venv and install what
#   they need when it changed: make run requirements.txt (serving only), make test, bench and
#   screenshots requirements-dev.txt (which includes it); make test also installs Debian's
#   Chromium, PostgreSQL and Redis when it can.
# make bench: load-test the app against the naive baseline (BENCH_ARGS="--gpu", see bench/run.py)
# make screenshots: docs/screenshot-*.png of the real models' pages, for the README
VENV := .venv
PYTHON := $(VENV)/bin/python
# Touched after a successful install, so pip runs again only when a requirements file changes.
# Two sets: serving (requirements.txt, for make run) and development (requirements-dev.txt,
# which includes it: tests, training, the benchmark and the screenshots).
RUNTIME_DEPS := $(VENV)/.runtime-installed
DEV_DEPS := $(VENV)/.dev-installed
# The browser tests drive Debian's Chromium with Playwright (no browser download); the Nanum
# fonts draw the Korean text in screenshots.
CHROMIUM := /usr/bin/chromium
BROWSER_PACKAGES := chromium fonts-nanum
# The feedback store's tests also run against a real PostgreSQL server, started in a temporary
# directory by the test suite (tests/conftest.py): Debian's server package provides it.
POSTGRES_PACKAGES := postgresql
# The queued batch jobs' tests run against a real Redis server, started the same way.
REDIS_PACKAGES := redis-server

.PHONY: venv browser postgres redis run test bench screenshots

# The development environment (training, tests); make run installs only what serving imports.
venv: $(DEV_DEPS)

$(PYTHON):
	python3 -m venv $(VENV)

$(RUNTIME_DEPS): requirements.txt | $(PYTHON)
	$(VENV)/bin/pip install -r requirements.txt
	touch $@

# The development set includes the runtime one, so its install brings that stamp up to date too.
$(DEV_DEPS): requirements.txt requirements-dev.txt | $(PYTHON)
	$(VENV)/bin/pip install -r requirements-dev.txt
	touch $@ $(RUNTIME_DEPS)

# Installs Chromium with apt when it is missing and we are root (as in CI); otherwise says how,
# and the browser tests are skipped with that reason.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing $(BROWSER_PACKAGES) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); \
	else \
		echo "No $(CHROMIUM): the browser tests will be skipped." \
			"Install it with: sudo apt-get install $(BROWSER_PACKAGES)"; \
	fi

# Installs PostgreSQL with apt when initdb is missing and we are root; otherwise says how, and
# the PostgreSQL tests are skipped with that reason.
postgres:
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing $(POSTGRES_PACKAGES) for the feedback store tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $(POSTGRES_PACKAGES); \
	else \
		echo "No PostgreSQL server: its tests will be skipped." \
			"Install it with: sudo apt-get install $(POSTGRES_PACKAGES)"; \
	fi

# Installs Redis with apt when redis-server is missing and we are root; otherwise says how, and
# the queued batch jobs' tests are skipped with that reason.
redis:
	@if command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing $(REDIS_PACKAGES) for the queued batch jobs' tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $(REDIS_PACKAGES); \
	else \
		echo "No Redis server: its tests will be skipped." \
			"Install it with: sudo apt-get install $(REDIS_PACKAGES)"; \
	fi

run: $(RUNTIME_DEPS)
	$(VENV)/bin/gunicorn -c gunicorn.conf.py 'main:create_app()'

test: venv browser postgres redis
	$(PYTHON) -m pytest -q

bench: venv
	$(PYTHON) -m bench.run $(BENCH_ARGS)

screenshots: venv browser
	$(PYTHON) tests/e2e_screenshots.py --out docs

# make run: serve the models in running_model/ on 127.0.0.1:8000 (PORT=... to change)
# make test: run the test suite. Both create .venv and install requirements when needed.
# make bench: load-test the app against the naive baseline (BENCH_ARGS="--gpu", see bench/run.py)
VENV := .venv
PYTHON := $(VENV)/bin/python
# Touched after a successful install, so pip runs again only when a requirements file changes.
DEPS := $(VENV)/.deps-installed

.PHONY: venv run test bench

venv: $(DEPS)

$(PYTHON):
	python3 -m venv $(VENV)

$(DEPS): requirements.txt requirements-dev.txt | $(PYTHON)
	$(VENV)/bin/pip install -r requirements-dev.txt
	touch $@

run: venv
	$(VENV)/bin/gunicorn -c gunicorn.conf.py 'main:create_app()'

test: venv
	$(PYTHON) -m pytest -q

bench: venv
	$(PYTHON) -m bench.run $(BENCH_ARGS)

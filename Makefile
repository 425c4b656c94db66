# Alliance CRM — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python 3.12+ found; the repo's .python-version selects 3.13 under pyenv.
PYTHON ?= $(shell for p in python3 python3.13 python3.12; do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Exact versions with hashes: the -dev lock for development and CI, requirements.lock for the image.
LOCK := requirements-dev.lock
PYTHON_FLOOR := 3.12
LOCK_FLAGS := --universal --python-version $(PYTHON_FLOOR) --generate-hashes --custom-compile-command "make lock"

.PHONY: help install lock run test lint bench migrate demo clean

# The settings default to production (DEBUG off); these development targets turn it on unless the
# environment already chose.
run migrate demo lint: export DJANGO_DEBUG ?= true

# The port `make run` serves on (`make run PORT=8001`): from the command line or environment, else .env, else 8000.
PORT ?= $(or $(shell sed -n 's/^PORT=\([0-9][0-9]*\).*/\1/p' .env 2>/dev/null | tail -n 1),8000)
# honcho hands each Procfile process a PORT of its own (web PORT, worker PORT+100, …), so the development site
# address — the links in var/mail — is fixed here once, from the web server's port, unless the environment or
# .env names one.
ifeq ($(ALLIANCE_SITE_URL)$(shell grep -s '^ALLIANCE_SITE_URL=' .env),)
run demo: export ALLIANCE_SITE_URL := http://127.0.0.1:$(PORT)
endif

help:
	@echo "make run    install, migrate, load demo data, serve http://127.0.0.1:$(PORT) with worker and beat (PORT=…)"
	@echo "make test   install if needed and run the whole test suite, on every core (PYTEST_XDIST=0: one process)"
	@echo "make lint   ruff, djLint and mypy"
	@echo "make lock   re-pin the lock files after changing dependencies in pyproject.toml"
	@echo "make bench  the dispatcher, then every page and job at 10,000 and 100,000 patients (BENCH_PAGES_ARGS=--s: 10,000 only)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "Alliance CRM needs Python 3.12 or newer (Django 6); found $$(python3 --version 2>&1)."; \
	  echo "With pyenv: 'pyenv install 3.13' — the repo's .python-version then selects it."; \
	  exit 1; \
	fi
	$(PYTHON) -m venv $(VENV)

# pip installs uv at the version and hashes the lock pins, then uv installs the whole lock (hash-checked).
$(STAMP): $(BIN)/python $(LOCK)
	@awk '/^uv==/ {keep = 1; print; next} keep && /^ / {print; next} {keep = 0}' $(LOCK) > $(VENV)/uv-requirement.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv-requirement.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK)
	@touch $(STAMP)

install: $(STAMP)
	@mkdir -p var/staticfiles

# Keeps what the lock files pin unless pyproject.toml asks otherwise; LOCK_ARGS=--upgrade takes newer releases.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) $(LOCK_ARGS) --quiet -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml -c $(LOCK) $(LOCK_FLAGS) $(LOCK_ARGS) --quiet -o requirements.lock

migrate: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py setup_demo

# The demo sign-ins are printed again once the server answers (the Procfile's signins line) and kept in
# var/demo-sign-ins.txt; `python manage.py demo_sign_ins` shows them at any time.
run: demo
	@echo "Alliance CRM on http://127.0.0.1:$(PORT) — Ctrl-C stops the web server, worker and beat."
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile -p $(PORT)

# The suite runs on every core through pytest-xdist (13–17 minutes in one process on the 2-core CI machine,
# about 8 on two workers: README, Tests). PYTEST_XDIST=0 runs it in one process (so does -n0 in PYTEST_ARGS, which comes last);
# PYTEST_XDIST=3 picks the number of workers.
PYTEST_XDIST ?= auto
test: install
	$(BIN)/pytest $(if $(filter 0,$(PYTEST_XDIST)),,-n $(PYTEST_XDIST)) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint templates --lint
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks pages $(BENCH_PAGES_ARGS)
	$(BIN)/python -m benchmarks fhir

clean:
	rm -rf var/broker var/celerybeat-schedule* var/mail

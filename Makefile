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

.PHONY: help install run test lint bench migrate demo clean

help:
	@echo "make run    install, migrate, load demo data, serve http://127.0.0.1:8000 with worker and beat"
	@echo "make test   install if needed and run the whole test suite"
	@echo "make lint   ruff and djLint"
	@echo "make bench  print benchmark figures (never part of the test suite)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "Alliance CRM needs Python 3.12 or newer (Django 6); found $$(python3 --version 2>&1)."; \
	  echo "With pyenv: 'pyenv install 3.13' — the repo's .python-version then selects it."; \
	  exit 1; \
	fi
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '.[dev]'
	@touch $(STAMP)

install: $(STAMP)
	@mkdir -p var/staticfiles

migrate: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py setup_demo

run: demo
	@echo "Alliance CRM on http://127.0.0.1:8000 — Ctrl-C stops the web server, worker and beat."
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint templates --lint

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf var/broker var/celerybeat-schedule* var/mail

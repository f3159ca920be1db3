# The two commands of the README. Both set up .venv on a fresh machine first.
PY := .venv/bin/python

.PHONY: demo test lint setup setup-test

setup:
	./scripts/bootstrap.sh

setup-test:
	./scripts/bootstrap.sh test

demo: setup
	$(PY) scripts/demo.py

test: setup-test
	$(PY) -m ruff check src tests scripts hw_tests
	$(PY) -m pytest -q tests

lint: setup-test
	$(PY) -m ruff check src tests scripts hw_tests

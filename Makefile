# The two commands of the README. Both set up .venv on a fresh machine first.
PY := .venv/bin/python

.PHONY: demo test lint setup setup-test

setup:
	./scripts/bootstrap.sh

setup-test:
	./scripts/bootstrap.sh test

demo: setup
	$(PY) scripts/demo.py

# -n 2: one pytest-xdist worker per core of the 2-core CI machine (halves the wall time).
test: setup-test
	$(PY) -m ruff check src tests scripts hw_tests
	$(PY) -m pytest -q -n 2 tests

lint: setup-test
	$(PY) -m ruff check src tests scripts hw_tests

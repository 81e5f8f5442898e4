# Two entry points: `make demo` (restore sample images, print metrics) and `make test`.
# Both create .venv/ at the repository root on first use.
# `make wheel-test` (CI) builds the sdist and wheel and smoke-tests the wheel in a temporary
# virtual environment outside the repository; it does not need .venv/.
PYTHON ?= python3
TORCH ?= torch==2.13.0
TORCH_INDEX ?=  # e.g. https://download.pytorch.org/whl/cpu: PyTorch's CPU-only build
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test wheel-test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/restormixer demo --out demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

wheel-test:
	PYTHON="$(PYTHON)" TORCH="$(TORCH)" bash scripts/wheel_smoke_test.sh

bench: $(STAMP)
	$(BIN)/python benchmarks/scan_speed.py
	$(BIN)/python benchmarks/inference_speed.py

clean:
	rm -rf $(VENV) demo

# Two commands: `make test` and `make demo`. Both create .venv on first use.
#
# torch is installed first and pinned: on a machine without torch, a bare `torch`
# requirement pulls several GB of CUDA wheels. On a GPU machine, install the torch build
# you want into .venv first (or set TORCH_SPEC), then run make as usual.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test demo bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

test: setup
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/genpt demo

bench: setup
	$(BIN)/python bench/model_step.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache build *.egg-info

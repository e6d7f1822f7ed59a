# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the CPU build of torch; a bare `torch` requirement would pull a CUDA build
TORCH ?= torch==2.13.0

.PHONY: setup demo demo-adt test clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg setup.py $(shell find recbole_denoise properties -name '*.py' -o -name '*.yaml')
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23"
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet ".[test]"
	touch $@

demo: setup
	$(BIN)/python run_recbole_denoise.py --model=FRAME --show_progress=False

demo-adt: setup
	$(BIN)/python run_recbole_denoise.py --model=GMF --dataset=ml-100k --loss_type=TCE --show_progress=False

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info saved log log_tensorboard

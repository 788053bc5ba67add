# Two set-up-to-result commands: `make demo` and `make test` (see README.md).
# Debian's python3.11 is preferred: an unprivileged sandbox user can run it (pyenv under /root
# cannot be read by others), which lets the grader run student code as `nobody` when root.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3.11)
VENV ?= .venv
BIN := $(VENV)/bin
export HOMEWORK_DATA_DIR ?= $(CURDIR)/data

.PHONY: setup system-packages build demo test test-fast lint benchmark clean

setup: $(VENV)/.installed system-packages

$(VENV)/.installed: requirements.txt requirements-dev.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

system-packages:
	@scripts/system-packages.sh

build: setup
	$(BIN)/python -m grader build

demo: build
	$(BIN)/python -m grader grade --out grades examples/*.ipynb

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m grader build --check

test: lint build
	$(BIN)/python -m pytest

test-fast: lint build
	$(BIN)/python -m pytest -m "not slow"

benchmark: setup
	$(BIN)/python bench/q2_training.py
	$(BIN)/python bench/q5_training.py
	$(BIN)/python bench/grade_solution.py
	$(BIN)/python bench/export_pdf.py
	$(BIN)/python bench/run_all.py

clean:
	rm -rf build grades .pytest_cache

# Two set-up-to-result commands: `make demo` and `make test` (see README.md).
# Debian's python3.11 is preferred: an unprivileged sandbox user can run it (pyenv under /root
# cannot be read by others), which lets the grader run student code as `nobody` when root.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3.11)
VENV ?= .venv
BIN := $(VENV)/bin
export HOMEWORK_DATA_DIR ?= $(CURDIR)/data

.PHONY: setup system-packages build data release demo test test-fast lint benchmark clean

setup: $(VENV)/.installed system-packages

$(VENV)/.installed: requirements.txt grader/requirements.txt requirements-web.txt requirements-dev.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -r grader/requirements.txt -r requirements-web.txt \
		-r requirements-dev.txt
	touch $@

system-packages:
	@scripts/system-packages.sh

build: setup
	$(BIN)/python -m grader build

# MNIST for the grader (verified before grading; each sandbox sees it read-only). Online once.
data: setup
	$(BIN)/python -c "import sys, torchvision; [torchvision.datasets.MNIST(sys.argv[1], train=t, download=True) for t in (True, False)]" "$(HOMEWORK_DATA_DIR)"

release: build
	$(BIN)/python -m grader release

demo: build data
	$(BIN)/python -m grader grade --out grades examples/*.ipynb

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m grader build --check

test: lint build data
	$(BIN)/python -m pytest

test-fast: lint build data
	$(BIN)/python -m pytest -m "not slow"

benchmark: setup
	$(BIN)/python bench/q2_training.py
	$(BIN)/python bench/q5_training.py
	$(BIN)/python bench/grade_solution.py
	$(BIN)/python bench/grade_class.py
	$(BIN)/python bench/export_pdf.py
	$(BIN)/python bench/sandbox_overhead.py
	$(BIN)/python bench/resource_accounting.py
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/runner_startup.py
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/similarity.py
	$(BIN)/python bench/mark_page.py

clean:
	rm -rf build dist grades .pytest_cache

# Two commands do all set-up on a fresh machine:
#   make run    set up, then validate, plan and run the example tasks.md (the main job)
#   make test   set up, then ruff, mypy --strict, pytest with coverage >= 90%, and the
#               notebooks executed by nbval

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE ?= examples/tasks.md

.PHONY: setup run test lint typecheck unit bench figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The example runs in a scratch copy (build/example/), so the repository's copy keeps
# its unticked boxes and no state.
run: setup
	$(BIN)/taskexec validate $(EXAMPLE)
	$(BIN)/taskexec plan $(EXAMPLE)
	rm -rf build/example && mkdir -p build && cp -r $(dir $(EXAMPLE)) build/example
	$(BIN)/taskexec run build/example/$(notdir $(EXAMPLE))
	cat build/example/build/report.md
	$(BIN)/taskexec report --tasks build/example/$(notdir $(EXAMPLE)) -o build/example-report.html
	$(BIN)/taskexec report --tasks build/example/$(notdir $(EXAMPLE)) --format md

lint: setup
	$(BIN)/ruff check taskexec_nb tests benchmarks scripts
	$(BIN)/ruff format --check taskexec_nb

typecheck: setup
	$(BIN)/mypy --strict taskexec_nb

unit: setup
	$(BIN)/pytest --cov --cov-report=term-missing tests
	$(BIN)/pytest --nbval-lax notebooks

test: lint typecheck unit

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_report.py

# PNGs of the report figures for a 50- and a 500-task run (needs kaleido and Chromium).
figures: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,figures]'
	$(BIN)/python scripts/render_figures.py build/figures

clean:
	rm -rf $(VENV) .coverage .pytest_cache .mypy_cache .ruff_cache .hypothesis

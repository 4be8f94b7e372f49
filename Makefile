# Two commands do all set-up on a fresh machine:
#   make run    set up, then validate, plan and run the example tasks.md (the main job)
#   make test   set up, then ruff, mypy --strict, pytest with coverage >= 90% in total and
#               for every module, the notebooks executed by nbval, and pytest again on
#               Python 3.10 (the oldest version pyproject accepts)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE ?= examples/tasks.md
# The oldest Python that pyproject accepts: pyenv's, else one on PATH; PY310=/path overrides.
PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) $(shell command -v python3.10 2>/dev/null))
VENV310 ?= .venv310
STAMP310 := $(VENV310)/.installed-stamp

.PHONY: setup run test lint typecheck unit unit310 bench figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

$(STAMP310): pyproject.toml
	@$(PY310) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null || { \
	  echo "make test also runs the tests on Python 3.10, and no Python 3.10 was found"; \
	  echo "(pyenv install 3.10, or PY310=/path/to/python3.10 make test)"; exit 1; }
	$(PY310) -m venv $(VENV310)
	$(VENV310)/bin/python -m pip install --quiet --upgrade pip
	$(VENV310)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP310)

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

# Coverage is >= 90% for the whole package (fail_under) and for every module (check_coverage).
unit: setup
	mkdir -p build
	$(BIN)/pytest --cov --cov-report=term-missing --cov-report=json:build/coverage.json tests
	$(BIN)/python scripts/check_coverage.py build/coverage.json --min 90
	$(BIN)/pytest --nbval-lax notebooks

# The same tests on Python 3.10 (coverage and lint are measured once, on the default Python).
unit310: $(STAMP310)
	$(VENV310)/bin/pytest -q -p no:cacheprovider tests

test: lint typecheck unit unit310

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_startup.py --with-memory

# PNGs of the report figures for a 50- and a 500-task run (needs kaleido and Chromium).
figures: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,figures]'
	$(BIN)/python scripts/render_figures.py build/figures

clean:
	rm -rf $(VENV) $(VENV310) .coverage .pytest_cache .mypy_cache .ruff_cache .hypothesis

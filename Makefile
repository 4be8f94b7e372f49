# Two commands do all set-up on a fresh machine:
#   make run    set up, then validate, plan and run the example tasks.md (the main job)
#   make test   set up, then ruff, mypy --strict, pytest with coverage >= 90% in total and
#               for every module, the notebooks executed by nbval, and pytest again on
#               Python 3.10 (the oldest version pyproject accepts); before the tests it
#               installs what the real-browser test needs (make browser-setup)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE ?= examples/tasks.md
# The oldest Python that pyproject accepts: pyenv's, else one on PATH; PY310=/path overrides.
PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) $(shell command -v python3.10 2>/dev/null))
VENV310 ?= .venv310
STAMP310 := $(VENV310)/.installed-stamp

.PHONY: setup run test lint typecheck unit unit310 browser-setup notebooks bench figures clean

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

# What the real-browser test (tests/test_browser.py) needs beyond the dev extras (which bring
# Playwright's Python package and JupyterLab): Debian's chromium, which Playwright drives
# through its executable path (never `playwright install`: it downloads a browser of its
# own from a host other than the package registries), and axe-core from npm, at the
# version package-lock.json pins. apt runs only when /usr/bin/chromium is missing.
CHROMIUM ?= /usr/bin/chromium
AXE := node_modules/axe-core/axe.min.js
APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "the browser test needs $(CHROMIUM) (Debian's chromium package), and there is no apt-get here"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) $(APT_INSTALL) chromium fonts-liberation

$(AXE): package.json package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) $(APT_INSTALL) npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AXE)

browser-setup: $(CHROMIUM) $(AXE)

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
# The notebooks run under nbval, each cell's output checked against the one stored in the
# notebook once notebooks/nbval_sanitize.cfg has replaced what varies (times, run IDs,
# paths, durations); `make notebooks` stores new outputs after a deliberate change.
# Under make test the browser test fails, not skips, when chromium or axe-core is missing.
NBVAL := --nbval --nbval-sanitize-with notebooks/nbval_sanitize.cfg
unit: setup browser-setup
	mkdir -p build
	TASKEXEC_BROWSER_REQUIRED=1 TASKEXEC_CHROMIUM=$(CHROMIUM) $(BIN)/pytest --cov --cov-report=term-missing --cov-report=json:build/coverage.json tests
	$(BIN)/python scripts/check_coverage.py build/coverage.json --min 90
	$(BIN)/pytest -p no:cacheprovider $(NBVAL) notebooks

# The same tests on Python 3.10 (coverage and lint are measured once, on the default Python).
unit310: $(STAMP310) browser-setup
	TASKEXEC_BROWSER_REQUIRED=1 TASKEXEC_CHROMIUM=$(CHROMIUM) $(VENV310)/bin/pytest -q -p no:cacheprovider tests

notebooks: setup
	$(BIN)/python scripts/refresh_notebooks.py

test: lint typecheck unit unit310

# Every benchmark runs, even after one misses a goal; the target fails at the end if any did.
BENCHES := bench_load bench_engine bench_report bench_startup bench_magics bench_dashboard bench_cli
bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@failed=""; for b in $(BENCHES); do \
	  echo "== benchmarks/$$b.py"; \
	  $(BIN)/python benchmarks/$$b.py || failed="$$failed $$b"; \
	done; \
	if [ -n "$$failed" ]; then echo "goals missed in:$$failed"; exit 1; fi

# PNGs of the report figures for a 50- and a 500-task run (needs kaleido and Chromium).
figures: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,figures]'
	$(BIN)/python scripts/render_figures.py build/figures

clean:
	rm -rf $(VENV) $(VENV310) .coverage .pytest_cache .mypy_cache .ruff_cache .hypothesis

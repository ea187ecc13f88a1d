# Tocsin: `make run` serves the three-tier example; `make test` runs lint (ruff and the import
# layers), types and all tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
EXAMPLE ?= examples/three-tier

.PHONY: run test lint types pytest bench bench-versus bench-memory clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

# The seed's three-tier example. Its postmortem template is for this server only (`make test`
# keeps the shipped one); links in pages point at the port actually served.
run: export TOCSIN_TEMPLATE_DIR ?= $(CURDIR)/$(EXAMPLE)/templates
run: export TOCSIN_BASE_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed
	$(BIN)/tocsin db upgrade
	$(BIN)/tocsin init
	$(BIN)/tocsin apply -f $(EXAMPLE)/tocsin.yaml
	$(BIN)/tocsin serve --host $(HOST) --port $(PORT)

# ruff, then the layers: each package imports only the ones below it (pyproject.toml).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(VENV)/.installed-dev
	$(BIN)/mypy

# Three workers on two cores: much of the suite waits on real servers, engines and browsers.
PYTEST_WORKERS ?= 3

# Keep compiled modules even where the environment says not to write them (an empty value is off): every worker and each
# of the fifty `tocsin` processes the suite starts would compile Tocsin again (about 0.9 s of
# CPU each), and pytest would rewrite every test module's assertions in each worker.
pytest: export PYTHONDONTWRITEBYTECODE :=
pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

# The three at once: lint and types take half a minute of one core, which the tests, often
# waiting on servers and browsers, leave free. Any one failing fails `make test`.
test:
	@$(MAKE) --no-print-directory -j3 lint types pytest

# The quick figures; the comparison with Alertmanager needs its harness (HARNESS=folder) and
# the memory soak takes about twenty minutes, so each has its own target.
bench: $(VENV)/.installed-dev
	@for script in bench/*.py; do \
		case $$script in bench/versus_alertmanager.py|bench/memory.py) continue;; esac; \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

bench-versus: $(VENV)/.installed-dev
	@test -n "$(HARNESS)" || { echo "error: set HARNESS to the side-by-side harness's folder"; exit 2; }
	$(BIN)/python bench/versus_alertmanager.py --harness "$(HARNESS)"

bench-memory: $(VENV)/.installed-dev
	$(BIN)/python bench/memory.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The two Quickstart commands: `make demo` and `make test`. Each installs what it needs into
# .venv first (offline-capable: torch comes from pip's configured sources). The demo installs
# the package alone; the tests add the dev extras (pytest, ruff, import-linter, Ray, hatchling, selenium, s3fs) and moto.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.app-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: install install-dev demo test test-fast lint format bench clean

install: $(APP_STAMP)
install-dev: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(APP_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(APP_STAMP)

# MegaDetector's own format validator checks `export -f megadetector` in the tests: the package without its
# detector dependencies (YOLOv5, …), plus the three modules the validator imports.
# moto (the tests' loopback S3) comes second, held to the botocore that s3fs's aiobotocore chose: resolved
# together with the dev extras, pip backtracks for many minutes (see the dev extra in pyproject.toml).
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip freeze | grep -i '^botocore==' > $(VENV)/botocore-pin.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/botocore-pin.txt "moto[server]>=5"
	$(BIN)/python -m pip install --quiet --no-deps "megadetector>=10"
	$(BIN)/python -m pip install --quiet jsonpickle opencv-python-headless
	touch $(APP_STAMP) $(DEV_STAMP)

demo: install
	@mkdir -p demo-output
	$(BIN)/animalsort classify examples/photos --out demo-output/preds.csv
	$(BIN)/animalsort report demo-output/preds.csv
	@echo
	@cat demo-output/preds.csv
	@echo
	@echo "open demo-output/preds.html in a browser to look at the photos by label"

# Everything CI runs: lint, format check, the whole suite.
test: install-dev lint
	$(BIN)/python -m pytest -q

# The edit-test loop: the suite without the slow tests (kill loops, DDP, Ray, browser, wheel build).
test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow"

# ruff, then the architecture: the layers and forbidden imports of [tool.importlinter] in pyproject.toml.
lint: install-dev
	$(BIN)/ruff check animalsort tests benchmarks
	$(BIN)/ruff format --check animalsort tests benchmarks
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff format animalsort tests benchmarks
	$(BIN)/ruff check --fix animalsort tests benchmarks

bench: install
	$(BIN)/python benchmarks/accuracy.py

clean:
	rm -rf $(VENV) demo-output build dist .pytest_cache

# The two Quickstart commands: `make demo` and `make test`. Each installs what it needs into
# .venv first (offline-capable: torch comes from pip's configured sources). The demo installs
# the package alone; the tests add the dev extras (pytest, ruff, import-linter, Ray, hatchling, selenium, s3fs), the
# docs extra (MkDocs: the suite builds the site with --strict) and moto.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.app-stamp
DEV_STAMP := $(VENV)/.dev-stamp
DOCS_STAMP := $(VENV)/.docs-stamp
# Every page that holds a [[[cog block: what docs/tools/generated.py writes from the code.
GENERATED_PAGES = $(shell grep -rl --include='*.md' '\[\[\[cog' docs)
LINTED := animalsort tests benchmarks docs/tools

.PHONY: install install-dev demo test test-fast lint format bench docs docs-generate clean

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
	$(BIN)/python -m pip install --quiet -e ".[dev,docs]"
	$(BIN)/python -m pip freeze | grep -i '^botocore==' > $(VENV)/botocore-pin.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/botocore-pin.txt "moto[server]>=5"
	$(BIN)/python -m pip install --quiet --no-deps "megadetector>=10"
	$(BIN)/python -m pip install --quiet jsonpickle opencv-python-headless
	touch $(APP_STAMP) $(DEV_STAMP) $(DOCS_STAMP)

$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(APP_STAMP) $(DOCS_STAMP)

demo: install
	@mkdir -p demo-output
	$(BIN)/animalsort classify examples/photos --out demo-output/preds.csv
	$(BIN)/animalsort report demo-output/preds.csv
	@echo
	@cat demo-output/preds.csv
	@echo
	@echo "open demo-output/preds.html in a browser to look at the photos by label"

# Everything CI runs: lint, format check, the whole suite (tests/test_docs.py builds the site with --strict).
test: install-dev lint
	$(BIN)/python -m pytest -q

# The edit-test loop: the suite without the slow tests (kill loops, DDP, Ray, browser, wheel build).
test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow"

# ruff, then the architecture: the layers and forbidden imports of [tool.importlinter] in pyproject.toml.
lint: install-dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

bench: install
	$(BIN)/python benchmarks/accuracy.py

# The documentation site into site/ (open site/index.html); the screenshots of report and review are made by
# headless Chromium during the build, where it is installed. `$(BIN)/mkdocs serve` for a live preview.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Rewrite the pages generated from the code (the CLI reference from --help, the layout from the docstrings)
# after changing a command, an option's help or a module's docstring; tests/test_docs.py fails until then.
docs-generate: $(DOCS_STAMP)
	$(BIN)/cog -r -I docs/tools $(GENERATED_PAGES)

clean:
	rm -rf $(VENV) demo-output build dist site .pytest_cache

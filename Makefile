# The two Quickstart commands: `make demo` and `make test`. Each installs what it needs into
# .venv first (offline-capable: torch comes from pip's configured sources).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	@mkdir -p demo-output
	$(BIN)/animalsort classify examples/photos --out demo-output/preds.csv
	$(BIN)/animalsort report demo-output/preds.csv
	@echo
	@cat demo-output/preds.csv
	@echo
	@echo "open demo-output/preds.html in a browser to look at the photos by label"

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/accuracy.py

clean:
	rm -rf $(VENV) demo-output build dist .pytest_cache

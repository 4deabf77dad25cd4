# The two set-up commands of the README: `make book` and `make test`.
# Both create .venv (Python 3.11+, packages from PyPI) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The data root is the package's: $CLUSTUTILS_DATA, else ~/.cache/clustutils/data (CI sets ../shared/data).
DATA_ROOT = $(shell $(BIN)/python -c "from clustutils.data import data_root; print(data_root())")

.PHONY: book test unit notebooks nbval sync env clean check-book

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

env: $(STAMP)

## Build the book into _build/html (notebooks checked, results table regenerated first; warnings are errors).
book: $(STAMP)
	$(BIN)/clustutils check-notebooks
	$(BIN)/clustutils results --markdown --output book/_generated/results_table.md --figure book/_generated/results_overview.png
	$(BIN)/jupyter-book build . --warningiserror --keep-going

## Render the built book in headless Chromium at 1400 px: fail on tables or figures wider than the column.
## Needs Debian's chromium; installs the playwright package into .venv. Screenshots: _build/check-book/.
check-book: $(STAMP)
	$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install --quiet playwright
	$(BIN)/python tests/check_book.py

## Run every test: unit tests, notebooks in the smoke profile, nbval, pairing check.
test: unit notebooks nbval

unit: $(STAMP)
	$(BIN)/python -m pytest -q

# The notebooks need the datasets: without a data root they are skipped, and say so.
NO_DATA = echo "SKIPPED $@: no MNIST under the data root $(DATA_ROOT) (set CLUSTUTILS_DATA; see book/datasets.md)"

notebooks: $(STAMP)
	@if [ -d "$(DATA_ROOT)/MNIST/raw" ]; then \
	  set -x; CLUSTUTILS_PROFILE=smoke $(BIN)/clustutils run all --profile smoke --output _build/smoke --timings _build/smoke/timings.json; \
	else $(NO_DATA); fi

nbval: $(STAMP)
	@if [ -d "$(DATA_ROOT)/MNIST/raw" ]; then \
	  set -x; CLUSTUTILS_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax -p no:cacheprovider notebooks/*.ipynb; \
	else $(NO_DATA); fi

clean:
	rm -rf _build

# peerguard: `make run` serves everything locally, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench package layer admin-key clean

$(STAMP): requirements.txt requirements-dev.txt functions/privacy/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m local serve --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy app.py chalicelib local functions

test: $(STAMP) lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) -m bench

package: $(STAMP)
	$(PY) -m infra.package

layer: $(STAMP)
	bash layers/imaging/build.sh

admin-key: $(STAMP)
	@$(PY) -m local admin-key

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache

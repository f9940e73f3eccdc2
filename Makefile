# wasmplugin — the two commands that matter are `make demo` and `make test`.
# Everything else is a building block they use.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install system-deps lint bench plugins plugins-verify clean help

help:
	@echo "make demo     run the demo mesh and show what happened"
	@echo "make test     install what is missing, then run every test"
	@echo "make bench    run the benchmarks (docs/performance.md)"
	@echo "make plugins  rebuild every plugin in plugins/ from source"
	@echo "make lint     ruff + mypy --strict on src/"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || PYTHON=python3; \
	  test -x $(PY) || $${PYTHON:-$(PYTHON)} -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@scripts/ensure-system-deps.sh

demo: install
	$(BIN)/wasmplugin demo

# plugins/ensure-toolchains.sh installs the plugin toolchains (clang/wasi-libc, node/npm, the rust
# wasm target, npm ci); when Go or Rust is missing it says so and the suite still runs: the
# tests/plugins/test_build_*.py tests then fail naming the missing toolchain.
test: install system-deps
	-plugins/ensure-toolchains.sh
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install system-deps
	$(BIN)/python bench/run.py

plugins:
	plugins/build.sh

plugins-verify:
	plugins/build.sh --verify

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# One command builds and tests everything: `make test`. CI runs exactly that (.ci/run).
#
#   make bootstrap   install toolchains and tools (idempotent; seconds when done)
#   make rust-test   rust-fmt + rust-clippy (default and all features, host and wasm) + rust-unit
#   make wasm        build the wasm modules and their JS glue into npm/pkg/ (client, node, full)
#   make wasm-size   what is large in the browser's module (twiggy, installed into .tools/)
#   make js-test     npm package tests: Node (node:test), Chromium, TypeScript types
#                    (the Chromium tests include the gauntlet's HTML report: `make gauntlet`)
#   make python      build the wheel with maturin and install it into .venv
#   make py-test     stubtest + pytest (python/tests, and tests/servers when present)
#   make pip-check   `pip install ./python` in a throwaway venv, as a user would
#   make demo        run the demo example (core/examples/demo.rs) when it exists
#   make gauntlet-screenshot   retake the README's picture of the gauntlet report
#
# Every recipe runs under bash with -euo pipefail, so any failing command fails its target
# and `make` exits non-zero.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
# The builds already use both cores; running suites side by side only fights over them
# (and over cargo's lock on target/).
.NOTPARALLEL:
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TOOLS := $(ROOT)/.tools
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(ROOT)/target)
BOOTSTRAP := $(ROOT)/scripts/bootstrap.sh

# wasm-bindgen(-test-runner) from .tools/ (see .cargo/config.toml).
export PATH := $(TOOLS)/bin:$(PATH)

# pyo3 test binaries (cargo test --workspace) link libpython without an rpath, and pyo3's
# build script must find the same interpreter every time (or it rebuilds): the machine's
# python3, resolved past pyenv's shim (TOOLCHAIN.md, "Pitfalls").
export PYO3_PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)')
PY_LIBDIR := $(shell python3 -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
export LD_LIBRARY_PATH := $(PY_LIBDIR)$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))

WASM_TARGET := wasm32-unknown-unknown
WASM_FILE := $(TARGET_DIR)/$(WASM_TARGET)/wasm-release/tokenclock_wasm.wasm
WHEEL_DIR := $(TARGET_DIR)/wheels/tokenclock

.PHONY: test bootstrap bootstrap-rust bootstrap-wasm-bindgen bootstrap-venv bootstrap-npm \
	bootstrap-apt bootstrap-twiggy rust-test rust-fmt rust-clippy rust-unit wasm wasm-size js-test python \
	py-test pip-check demo \
	gauntlet gauntlet-screenshot clean

test: bootstrap rust-test js-test py-test pip-check
	@echo "==> make test: all suites passed"

# --- bootstrap (scripts/bootstrap.sh; each piece on its own so targets need only theirs) --
bootstrap:
	$(BOOTSTRAP) all
bootstrap-rust:
	@$(BOOTSTRAP) rust
bootstrap-wasm-bindgen:
	@$(BOOTSTRAP) wasm-bindgen
bootstrap-venv:
	@$(BOOTSTRAP) venv
bootstrap-npm:
	@$(BOOTSTRAP) npm
bootstrap-apt:
	@$(BOOTSTRAP) apt
bootstrap-twiggy:
	@$(BOOTSTRAP) twiggy

# --- Rust ----------------------------------------------------------------------------
# Three targets, so that under `make -k` (CI) a formatting slip does not hide test results.
rust-test: rust-fmt rust-clippy rust-unit

rust-fmt: bootstrap-rust
	@echo "==> rust-fmt"
	cargo fmt --all -- --check

rust-clippy: bootstrap-rust
	@echo "==> rust-clippy"
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p tokenclock --all-features --all-targets -- -D warnings
	@# wasm-only code paths (cfg(target_arch = "wasm32")) are linted too.
	cargo clippy -p tokenclock-wasm --target $(WASM_TARGET) -- -D warnings
	cargo clippy -p tokenclock-wasm --target $(WASM_TARGET) --features full --all-targets -- -D warnings

rust-unit: bootstrap-rust
	@echo "==> rust-unit"
	@# --no-fail-fast: report every failing test binary, not just the first.
	cargo test --workspace --no-fail-fast
	@# core's feature-gated modules (verify, sign) only have their tests run with the features on.
	cargo test -p tokenclock --all-features --no-fail-fast

# --- WebAssembly + npm -----------------------------------------------------------------
# `--target web` emits plain ESM whose init() fetches the .wasm beside it: that works in
# browsers with no bundler. Node's fetch() cannot read file: URLs, so the package's Node
# entry (npm/node.js, picked by the "node" export condition) reads the bytes with fs and
# calls initSync(). One ESM package for Node >= 18 and browsers; `--target bundler` needs a
# bundler and `experimental-nodejs-module` is Node-only.
#
# Three feature-split builds: npm/pkg/client (the browser's `tokenclock`), npm/pkg/node (Node's
# `tokenclock`: + fleet, sealing, SNTP) and npm/pkg/full; the script prints their sizes (a
# product figure, never asserted). wasm-opt (binaryen) and esbuild come from npm/node_modules.
wasm: bootstrap-wasm-bindgen bootstrap-npm
	@echo "==> wasm"
	$(ROOT)/npm/scripts/build-wasm.sh

# What is large in the browser's module: the client build with its function names kept
# (target/wasm-size/client/, not shipped), then `twiggy top`. Not part of `make test`.
WASM_SIZE_DIR := $(TARGET_DIR)/wasm-size
wasm-size: bootstrap-wasm-bindgen bootstrap-twiggy
	@echo "==> wasm-size"
	cargo build -p tokenclock-wasm --target $(WASM_TARGET) --profile wasm-release
	rm -rf $(WASM_SIZE_DIR)/client
	wasm-bindgen --target web --out-dir $(WASM_SIZE_DIR)/client --out-name tokenclock_wasm $(WASM_FILE)
	twiggy top -n 40 $(WASM_SIZE_DIR)/client/tokenclock_wasm_bg.wasm

js-test: wasm bootstrap-npm bootstrap-apt gauntlet
	@echo "==> js-test"
	cd npm && node --test test/*.test.js
	cd npm && node_modules/.bin/tsc -p test/tsconfig.json
	@echo "==> js-test: TypeScript check of index.d.ts passed"
	@# wasm-bindgen-test: the binding crate in Node and in headless Chromium.
	cargo test -p tokenclock-wasm --target $(WASM_TARGET) --test node
	CHROMEDRIVER=/usr/bin/chromedriver cargo test -p tokenclock-wasm --target $(WASM_TARGET) --test browser

# --- Python ----------------------------------------------------------------------------
python: bootstrap-venv
	@echo "==> python"
	rm -rf $(WHEEL_DIR)
	cd python && $(VENV)/bin/maturin build --release --interpreter $(PY) --out $(WHEEL_DIR)
	$(PY) -m pip install --quiet --no-deps --force-reinstall $(WHEEL_DIR)/tokenclock-*.whl

py-test: python
	@echo "==> py-test"
	@# Run from the repo root so `tokenclock` is the installed wheel, not python/tokenclock/.
	$(PY) -m mypy.stubtest tokenclock._native
	$(PY) -m pytest -c python/pyproject.toml --rootdir $(ROOT) python/tests $(wildcard tests/servers) tests/fleet

# What a user does with a checkout: PEP 517 build in an isolated env (maturin from PyPI).
pip-check: bootstrap-venv
	@echo "==> pip-check"
	rm -rf $(TARGET_DIR)/pip-check-venv
	python3 -m venv $(TARGET_DIR)/pip-check-venv
	$(TARGET_DIR)/pip-check-venv/bin/python -m pip install --quiet ./python
	cd / && $(TARGET_DIR)/pip-check-venv/bin/python -c 'import tokenclock as t; \
		assert t.rules_is_expired(1000.0, 1000.0, 0.0) is True; \
		assert t.rules_is_expired(999.0, 1000.0, 0.0) is False; \
		print("==> pip-check: pip install ./python OK, tokenclock", t.__version__)'

# --- demo --------------------------------------------------------------------------------
# The main job: build everything (the wasm package and the Python wheel too), then run the
# skew gauntlet — every strategy over the grid of clock offsets, lifetimes, leeways, cached
# issuers and wall steps — print its table, write target/demo/gauntlet.json and the same rows
# as heatmaps in target/demo/gauntlet.html (one self-contained page), and print its path.
GAUNTLET := cargo run -p tokenclock --features sim --example demo --release
demo: bootstrap wasm python
	$(GAUNTLET)

# The gauntlet alone (seconds once built): the report js-test opens in Chromium
# (npm/test/gauntlet-report.test.js). Deterministic: the same page as `make demo`'s.
gauntlet: bootstrap-rust
	@echo "==> gauntlet"
	$(GAUNTLET)

# The README's picture of the gauntlet (docs/img/gauntlet.png): a Chromium screenshot of
# `make demo`'s seed-1 report, and docs/img/gauntlet.sha256, the report it shows (js-test
# fails when the report changes and the picture was not retaken). Commit both.
gauntlet-screenshot: gauntlet bootstrap-npm bootstrap-apt
	@echo "==> gauntlet-screenshot"
	cd npm && GAUNTLET_UPDATE_README=1 node --test test/gauntlet-report.test.js

clean:
	rm -rf npm/pkg $(TARGET_DIR)/wheels $(TARGET_DIR)/pip-check-venv

# --- fuzzing (not part of `make test`) ----------------------------------------------------
# Every cargo-fuzz target in turn for FUZZ_SECONDS each (nightly + cargo-fuzz installed into
# .tools/ on first use); crashes are minimised into tests/vectors/regressions/. See
# fuzz/README.md and docs/fuzzing.md. `make fuzz FUZZ_TARGETS="peek sntp"` runs a subset.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(ROOT)/fuzz/run.sh $(FUZZ_TARGETS)

# --- benchmarks (never part of `make test`; results go to BENCHMARKS.md by hand) ----------
.PHONY: bench-python
# Per-request auth overhead vs PyJWT decode-per-request and Authlib (BENCHMARKS.md):
# current PyJWT from requirements-dev.txt, then PyJWT 2.12 in a throwaway venv.
bench-python: python
	@echo "==> bench-python"
	$(PY) python/bench/auth_overhead.py
	$(PY) python/bench/remote_verify.py
	rm -rf $(TARGET_DIR)/bench-pyjwt212
	python3 -m venv $(TARGET_DIR)/bench-pyjwt212
	$(TARGET_DIR)/bench-pyjwt212/bin/python -m pip install --quiet 'PyJWT[crypto]==2.12.*' Authlib==1.9.10 httpx==0.28.1 requests==2.34.2 $(WHEEL_DIR)/tokenclock-*.whl
	$(TARGET_DIR)/bench-pyjwt212/bin/python python/bench/auth_overhead.py
	$(TARGET_DIR)/bench-pyjwt212/bin/python python/bench/remote_verify.py

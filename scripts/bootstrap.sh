#!/usr/bin/env bash
# Installs everything the build and the tests need, on a fresh machine of this project's kind
# (Debian 12, rustup, Node 20, CPython 3.11; only the package registries reachable).
# Nothing installed by hand counts: CI runs this on a fresh clone.
#
# Usage: scripts/bootstrap.sh [all|rust|wasm-bindgen|venv|npm|apt|twiggy]...   (default: all;
#        `all` leaves out twiggy, which only `make wasm-size` uses)
#
# Idempotent and fast on re-run: every step first checks whether its result is already
# there (a version check or a stamp holding a hash of its inputs) and skips if so.
# Loud on failure: any failing command stops the script with the step and line that failed.
# -E: the ERR trap below also fires inside functions.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS="$ROOT/.tools"
VENV="$ROOT/.venv"

log() { printf '==> bootstrap: %s\n' "$*" >&2; }
die() { printf '!!! bootstrap FAILED: %s\n' "$*" >&2; exit 1; }
trap 'printf "!!! bootstrap FAILED (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

# sha256 of the given files (and strings), to tell whether a step's inputs changed.
inputs_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Rust: the wasm target and the fmt/clippy components -------------------------------
rust() {
    command -v rustup >/dev/null || die "rustup not found (the machine's Rust toolchain is installed by rustup)"
    local installed
    installed=$(rustup target list --installed)
    if ! grep -qx wasm32-unknown-unknown <<<"$installed"; then
        log "rustup target add wasm32-unknown-unknown"
        rustup target add wasm32-unknown-unknown
    fi
    installed=$(rustup component list --installed)
    for c in rustfmt clippy; do
        if ! grep -q "^$c" <<<"$installed"; then
            log "rustup component add $c"
            rustup component add "$c"
        fi
    done
}

# --- wasm-bindgen CLI: exactly the version of the `wasm-bindgen` crate in Cargo.lock -----
# The CLI and the crate must match to the patch version, or the CLI refuses the module.
wasm_bindgen_version() {
    # The version line that follows `name = "wasm-bindgen"` in Cargo.lock.
    awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print }' Cargo.lock
}

wasm_bindgen() {
    local v
    v=$(wasm_bindgen_version)
    [ -n "$v" ] || die "no wasm-bindgen package in Cargo.lock (bindings-wasm should depend on it)"
    [ "$(wc -l <<<"$v")" -eq 1 ] || die "several wasm-bindgen versions in Cargo.lock: $(tr '\n' ' ' <<<"$v")"
    if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null || true)" = "wasm-bindgen $v" ] &&
        [ -x "$TOOLS/bin/wasm-bindgen-test-runner" ]; then
        return 0
    fi
    log "cargo install wasm-bindgen-cli $v into .tools/ (takes ~2-3 min on 2 cores)"
    # --locked first (reproducible); it fails when a locked dependency version is no longer
    # in the registry (seen with 0.2.130), then resolve afresh.
    if ! cargo install wasm-bindgen-cli --version "=$v" --root "$TOOLS" --locked; then
        log "cargo install --locked failed; retrying without --locked"
        cargo install wasm-bindgen-cli --version "=$v" --root "$TOOLS"
    fi
    [ "$("$TOOLS/bin/wasm-bindgen" --version)" = "wasm-bindgen $v" ] ||
        die "installed wasm-bindgen is not $v"
}

# --- Python: .venv with maturin and the test tools ------------------------------------
venv() {
    local req="$ROOT/python/requirements-dev.txt" stamp="$VENV/.bootstrap-stamp" want
    # The interpreter's version is part of the stamp: a new Python means a new venv.
    want="$(inputs_hash "$req")-$(python3 -c 'import sys; print(sys.version)' | head -n1)"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
        return 0
    fi
    if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        log "python3 -m venv .venv"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    log "pip install -r python/requirements-dev.txt into .venv"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$req"
    printf '%s\n' "$want" >"$stamp"
}

# --- npm: the dev dependencies of npm/ (playwright-core, typescript) ------------------
npm_deps() {
    local stamp="$ROOT/npm/node_modules/.bootstrap-stamp" want
    command -v npm >/dev/null || die "npm not found (Node >= 18 with npm is expected on the machine)"
    if [ -f npm/package-lock.json ]; then
        want=$(inputs_hash npm/package.json npm/package-lock.json)
        [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] && return 0
        log "npm ci (npm/)"
        # --no-audit/--no-fund: no extra registry round trips; deterministic from the lockfile.
        (cd npm && npm ci --no-audit --no-fund)
    else
        log "npm install (npm/): no package-lock.json yet; commit the one this writes"
        (cd npm && npm install --no-audit --no-fund)
        want=$(inputs_hash npm/package.json npm/package-lock.json)
    fi
    printf '%s\n' "$want" >"$stamp"
}

# --- Debian packages: headless Chromium + driver (browser tests), Redis (fleet tests) ---
APT_PACKAGES=(chromium chromium-driver redis-server redis-tools)

apt_pkgs() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${missing[*]}"
        sudo=(sudo)
    fi
    log "apt-get install ${missing[*]}"
    # Wait for another apt/dpkg run instead of failing on its lock.
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q)
    "${apt[@]}" update
    "${apt[@]}" install "${missing[@]}"
}

# --- twiggy (`make wasm-size` only, not `make test`): what is large in a wasm module ------
TWIGGY_VERSION=0.8.0
twiggy() {
    if [ "$("$TOOLS/bin/twiggy" --version 2>/dev/null || true)" = "twiggy-opt $TWIGGY_VERSION" ]; then
        return 0
    fi
    log "cargo install twiggy $TWIGGY_VERSION into .tools/ (~2 min on 2 cores)"
    if ! cargo install twiggy --version "=$TWIGGY_VERSION" --root "$TOOLS" --locked; then
        log "cargo install --locked failed; retrying without --locked"
        cargo install twiggy --version "=$TWIGGY_VERSION" --root "$TOOLS"
    fi
}

steps=("$@")
[ "${#steps[@]}" -eq 0 ] && steps=(all)
for step in "${steps[@]}"; do
    case "$step" in
    all) rust; wasm_bindgen; venv; npm_deps; apt_pkgs ;;
    rust) rust ;;
    wasm-bindgen) rust; wasm_bindgen ;;
    venv) venv ;;
    npm) npm_deps ;;
    apt) apt_pkgs ;;
    twiggy) twiggy ;;
    *) die "unknown step '$step' (want: all rust wasm-bindgen venv npm apt twiggy)" ;;
    esac
done

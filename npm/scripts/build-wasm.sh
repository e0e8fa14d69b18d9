#!/usr/bin/env bash
# Builds the npm package's two WebAssembly modules from bindings-wasm/ and reports their size:
#
#   npm/pkg/client/  cargo feature `client` (default): the token client; no verification crypto
#   npm/pkg/full/    cargo feature `full`: + Verifier, SkewMonitor, signed assertions, simulation
#
# `wasm-bindgen --target web` emits plain ESM whose init() fetches the .wasm beside it (browsers,
# no bundler); the package's Node entries read the bytes with fs and call initSync() instead.
# Both builds share target/ (the crate is rebuilt per feature set, so they run one after the
# other: each wasm-bindgen step must read the module its own cargo step just wrote).
#
# Usage: npm/scripts/build-wasm.sh            (from anywhere; the Makefile's `wasm` target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$PATH"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

# The client module is built for size (profile wasm-release: opt-level "z"); the full module,
# which carries signature verification, for speed (profile wasm-full: opt-level 3), since a
# verifier's throughput matters more than its download.
build() {
    local name=$1 profile=$2
    shift 2
    echo "==> wasm ($name): cargo build --profile $profile $*"
    cargo build -p tokenclock-wasm --target wasm32-unknown-unknown --profile "$profile" "$@"
    rm -rf "npm/pkg/$name"
    wasm-bindgen --target web --out-dir "npm/pkg/$name" --out-name tokenclock_wasm \
        "$TARGET_DIR/wasm32-unknown-unknown/$profile/tokenclock_wasm.wasm"
}

rm -rf npm/pkg
build client wasm-release
build full wasm-full --features full

# Size is a product figure: report it every build (never asserted here).
for name in client full; do
    f="npm/pkg/$name/tokenclock_wasm_bg.wasm"
    raw=$(wc -c <"$f")
    gz=$(gzip -9 -c "$f" | wc -c)
    echo "==> wasm size ($name): $f $raw bytes raw, $gz bytes gzip -9"
done

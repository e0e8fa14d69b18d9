#!/usr/bin/env bash
# Builds the npm package's three WebAssembly modules from bindings-wasm/ and reports their size:
#
#   npm/pkg/client/  cargo feature `client` (default): the browser's token client
#                    (`import "tokenclock"` in a browser); no fleet, sealing, SNTP or crypto
#   npm/pkg/node/    cargo feature `node`: + the fleet protocol with record sealing, and SNTP
#                    (`import "tokenclock"` in Node: what needs sockets)
#   npm/pkg/full/    cargo feature `full`: + Verifier, SkewMonitor, signed assertions,
#                    simulation, command line (`import "tokenclock/full"`)
#
# `wasm-bindgen --target web` emits plain ESM whose init() fetches the .wasm beside it (browsers,
# no bundler); the package's Node entries read the bytes with fs and call initSync() instead.
# All builds share target/ (the crate is rebuilt per feature set, so they run one after the
# other: each wasm-bindgen step must read the module its own cargo step just wrote).
#
# Size steps (docs/bindings.md, "Size"; BENCHMARKS.md, "Size"):
# * the cargo profiles strip debug info only (`strip = "debuginfo"`): the module keeps its
#   `target_features` section, so wasm-bindgen sees reference types and emits the externref glue
#   (a smaller glue than the heap-table one it falls back to without it); wasm-bindgen then drops
#   the name and producers sections;
# * the glue is rewritten by esbuild without comments and whitespace (`--minify-whitespace
#   --minify-syntax`; identifiers and class names are kept, so stack traces and `.name` read
#   the same);
# * `wasm-opt` (binaryen, the npm devDependency in npm/node_modules) runs `-O1` on every module
#   (WASM_OPT overrides the passes; WASM_OPT=none skips it). Measured on the client module
#   (BENCHMARKS.md): -O1 cuts 4 % raw and 1.4 % gzip; -Oz cuts 11 % raw but adds ~1 % gzip, and
#   the gzip size is what a browser downloads.
#
# Usage: npm/scripts/build-wasm.sh            (from anywhere; the Makefile's `wasm` target)
#        WASM_OPT=-Oz npm/scripts/build-wasm.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$PATH"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
NODE_BIN="$ROOT/npm/node_modules/.bin"
WASM_OPT=${WASM_OPT:--O1}
[ "$WASM_OPT" = none ] && WASM_OPT=
for tool in esbuild ${WASM_OPT:+wasm-opt}; do
    [ -x "$NODE_BIN/$tool" ] || { echo "build-wasm.sh: $NODE_BIN/$tool missing: run \`make bootstrap-npm\`" >&2; exit 1; }
done

# The client and node modules are built for size (profile wasm-release: opt-level "z"); the
# full module, which carries signature verification, for speed (profile wasm-full: opt-level 3),
# since a verifier's throughput matters more than its download.
build() {
    local name=$1 profile=$2
    shift 2
    echo "==> wasm ($name): cargo build --profile $profile $*"
    cargo build -p tokenclock-wasm --target wasm32-unknown-unknown --profile "$profile" "$@"
    local out="npm/pkg/$name"
    rm -rf "$out"
    wasm-bindgen --target web --remove-name-section --remove-producers-section \
        --out-dir "$out" --out-name tokenclock_wasm \
        "$TARGET_DIR/wasm32-unknown-unknown/$profile/tokenclock_wasm.wasm"
    if [ -n "$WASM_OPT" ]; then
        # shellcheck disable=SC2086 # WASM_OPT is a list of passes
        "$NODE_BIN/wasm-opt" $WASM_OPT --enable-bulk-memory --enable-nontrapping-float-to-int \
            --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
            --strip-target-features "$out/tokenclock_wasm_bg.wasm" -o "$out/tokenclock_wasm_bg.wasm"
    fi
    "$NODE_BIN/esbuild" "$out/tokenclock_wasm.js" --format=esm --target=es2022 \
        --minify-whitespace --minify-syntax --log-level=warning --outfile="$out/tokenclock_wasm.min.js"
    mv "$out/tokenclock_wasm.min.js" "$out/tokenclock_wasm.js"
}

rm -rf npm/pkg
build client wasm-release
build node wasm-release --features node
build full wasm-full --features full

# Size is a product figure: report it every build (never asserted here).
for name in client node full; do
    for f in "npm/pkg/$name/tokenclock_wasm_bg.wasm" "npm/pkg/$name/tokenclock_wasm.js"; do
        raw=$(wc -c <"$f")
        gz=$(gzip -9 -c "$f" | wc -c)
        echo "==> wasm size ($name): $f $raw bytes raw, $gz bytes gzip -9"
    done
done

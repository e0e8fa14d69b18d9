#!/usr/bin/env bash
# The fuzzing campaign (`make fuzz`; not part of `make test`). See fuzz/README.md.
#
#   fuzz/run.sh [TARGET...]          every target when none is named
#   FUZZ_SECONDS=600 fuzz/run.sh     wall time per target (default 60)
#
# 1. installs what it needs on a fresh machine: the nightly toolchain (minimal profile) and
#    cargo-fuzz into .tools/ (`--locked`, falling back to unlocked). If no nightly can be had,
#    it falls back to the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz's -Z flags).
# 2. seeds fuzz/corpus/<target>/ from the vectors (fuzz/extract_seeds.py) and fuzz/seeds/.
# 3. builds the targets (release, debug assertions and overflow checks on, no sanitizer: the
#    code under test is `#![forbid(unsafe_code)]`, and without ASan each target runs about twice
#    as many inputs on this 2-core machine).
# 4. runs each target in turn under `nice -n 19` with one job (-jobs=1 -workers=1) for
#    FUZZ_SECONDS, then minimises every crash (libFuzzer -minimize_crash, what `cargo fuzz tmin`
#    runs) into a new case of
#    tests/vectors/regressions/<target>.json (fuzz/add_regression.py).
# 5. prints a summary (executions, seconds, exec/s, corpus size, crashes) and writes it to
#    fuzz/target/campaign/summary.tsv; logs are in fuzz/target/campaign/<target>/fuzz-0.log.
#
# Exit status: 0 when no target crashed, 1 otherwise (the crashes are already minimised and
# recorded as regressions by then).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ="$ROOT/fuzz"
TOOLS="$ROOT/.tools"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
ALL_TARGETS=(peek http_date retry_after sntp token_response jwks verify skew session lifetime monitor)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
OUT="${FUZZ_OUT:-$FUZZ/target/campaign}"
export PATH="$TOOLS/bin:$PATH"

log() { printf '==> fuzz: %s\n' "$*" >&2; }
trap 'printf "!!! fuzz FAILED (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

# --- 1. tools -------------------------------------------------------------------------------
TOOLCHAIN=+nightly
if ! cargo +nightly --version >/dev/null 2>&1; then
    log "rustup toolchain install nightly --profile minimal"
    if ! rustup toolchain install nightly --profile minimal; then
        log "no nightly toolchain to be had: using stable with RUSTC_BOOTSTRAP=1"
        TOOLCHAIN=+stable
        export RUSTC_BOOTSTRAP=1
    fi
fi
if ! [ -x "$TOOLS/bin/cargo-fuzz" ]; then
    log "cargo install cargo-fuzz into .tools/"
    cargo $TOOLCHAIN install cargo-fuzz --locked --root "$TOOLS" ||
        cargo $TOOLCHAIN install cargo-fuzz --root "$TOOLS"
fi
FUZZ_FLAGS=(--fuzz-dir "$FUZZ" --sanitizer none)

# --- 2. corpora -----------------------------------------------------------------------------
python3 "$FUZZ/extract_seeds.py" "$FUZZ/corpus" 2>/dev/null
for t in "${TARGETS[@]}"; do
    mkdir -p "$FUZZ/corpus/$t"
    cp -n "$FUZZ/seeds/$t/"* "$FUZZ/corpus/$t/" 2>/dev/null || true
done

# --- 3. build -------------------------------------------------------------------------------
# Built once; step 4 runs the binaries directly (`cargo fuzz run` would rebuild before every
# target, and pick up whatever is half-edited in the checkout by then).
BIN="$FUZZ/target/x86_64-unknown-linux-gnu/release"
log "building ${#TARGETS[@]} targets"
if ! nice -n 19 cargo $TOOLCHAIN fuzz build "${FUZZ_FLAGS[@]}"; then
    for t in "${TARGETS[@]}"; do
        [ -x "$BIN/$t" ] || { log "build failed and there is no $BIN/$t"; exit 2; }
    done
    log "WARNING: build failed; fuzzing the binaries of the last successful build"
fi

# --- 4. run ---------------------------------------------------------------------------------
mkdir -p "$OUT"
SUMMARY="$OUT/summary.tsv"
printf 'target\texecs\tseconds\texec_per_s\tcorpus\tcrashes\tstarted\n' >"$SUMMARY"
crashed=0
for t in "${TARGETS[@]}"; do
    dir="$OUT/$t"
    rm -rf "$dir"
    mkdir -p "$dir" "$FUZZ/artifacts/$t"
    before=$(ls "$FUZZ/artifacts/$t" | sort)
    started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    log "$t: ${SECONDS_PER_TARGET}s (log: $dir/fuzz-0.log)"
    t0=$(date +%s)
    # libFuzzer with -jobs=1 -workers=1 runs one worker process writing ./fuzz-0.log.
    (cd "$dir" && nice -n 19 "$BIN/$t" -artifact_prefix="$FUZZ/artifacts/$t/" \
        -max_total_time="$SECONDS_PER_TARGET" -jobs=1 -workers=1 -print_final_stats=1 \
        "$FUZZ/corpus/$t" >"$dir/libfuzzer.log" 2>&1) || true
    t1=$(date +%s)
    execs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$dir/fuzz-0.log" 2>/dev/null | tail -1 | grep -oE '[0-9]+$' || true)
    [ -n "$execs" ] || execs=$(grep -aoE '^#[0-9]+' "$dir/fuzz-0.log" 2>/dev/null | tail -1 | tr -d '#' || echo 0)
    corpus=$(ls "$FUZZ/corpus/$t" | wc -l)
    new=$(comm -13 <(echo "$before") <(ls "$FUZZ/artifacts/$t" | sort) | grep -E '^(crash|oom|timeout|leak)-' || true)
    n_new=$(printf '%s' "$new" | grep -c . || true)
    secs=$((t1 - t0))
    rate=$(( secs > 0 ? execs / secs : 0 ))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$execs" "$secs" "$rate" "$corpus" "$n_new" "$started" >>"$SUMMARY"
    for c in $new; do
        crashed=1
        log "$t: $c — minimising"
        min="$FUZZ/artifacts/$t/minimized-$c"
        (cd "$dir" && nice -n 19 "$BIN/$t" -minimize_crash=1 -runs=20000 \
            -exact_artifact_path="$min" "$FUZZ/artifacts/$t/$c" >"$dir/tmin-$c.log" 2>&1) || true
        [ -s "$min" ] || min="$FUZZ/artifacts/$t/$c"
        python3 "$FUZZ/add_regression.py" "$t" "$min" "$dir/fuzz-0.log"
    done
done

# --- 5. summary -----------------------------------------------------------------------------
log "summary ($SUMMARY)"
column -t -s $'\t' "$SUMMARY" >&2 || cat "$SUMMARY" >&2
exit "$crashed"

#!/usr/bin/env bash
# Refreshes fuzz/seeds/<target>/ (committed, replayed by `make test`) from the campaign's
# corpora: a minimised slice of at most 50 small files per target.
#
#   fuzz/slice_seeds.sh [TARGET...]      (after `make fuzz`, which builds the binaries)
#
# Per target: the corpus is minimised with libFuzzer's `-merge=1` (a set cover of its coverage,
# smaller inputs preferred); the slice is the 25 smallest vector-derived seeds
# (extract_seeds.py) plus the 25 smallest inputs (at most 2 KiB) of the minimised corpus.
# Files are named by content (`vec-<case id>` / `cov-<sha1 prefix>`), so re-running is stable.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ="$ROOT/fuzz"
BIN="$FUZZ/target/x86_64-unknown-linux-gnu/release"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(peek http_date retry_after sntp token_response jwks verify skew session lifetime monitor)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

python3 "$FUZZ/extract_seeds.py" "$TMP/vec" --max-per-target 25 --max-bytes 4096 2>/dev/null
for t in "${TARGETS[@]}"; do
    [ -x "$BIN/$t" ] || { echo "no $BIN/$t: run make fuzz first" >&2; exit 2; }
    mkdir -p "$TMP/min/$t"
    nice -n 19 "$BIN/$t" -merge=1 "$TMP/min/$t" "$FUZZ/corpus/$t" >"$TMP/merge-$t.log" 2>&1
    rm -rf "$FUZZ/seeds/$t"
    mkdir -p "$FUZZ/seeds/$t"
    cp "$TMP/vec/$t/"* "$FUZZ/seeds/$t/" 2>/dev/null || true
    find "$TMP/min/$t" -type f -size -2049c -printf '%s %p\n' | sort -n | awk 'NR <= 25' | while read -r _ f; do
        cp "$f" "$FUZZ/seeds/$t/cov-$(sha1sum "$f" | cut -c1-12)"
    done
    echo "$t: $(ls "$FUZZ/seeds/$t" | wc -l) seeds ($(ls "$TMP/min/$t" | wc -l) after merge of $(ls "$FUZZ/corpus/$t" | wc -l))" >&2
done

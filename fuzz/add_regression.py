#!/usr/bin/env python3
"""Records a (minimised) fuzzing crash as a regression vector.

    fuzz/add_regression.py TARGET INPUT_FILE [FUZZ_LOG]

appends a case to tests/vectors/regressions/<target>.json (created if missing) in the vector
format of tests/vectors/README.md:

    {"id": "fuzz-<target>-<sha1 prefix>", "comment": "<the panic message>; fix: TBD",
     "flags": ["regression", "fuzz"],
     "input": {"target": "<target>", "hex": "<raw input bytes, hex>"},
     "expected": {"outcome": "no_panic"}}

core/tests/fuzz_replay.rs replays every case through fuzz/harness/<target>.rs (the bindings
replay the same bytes through their own calls; see fuzz/README.md). A case already present
(same bytes) is not added twice. The lead fills in the fix commit in the comment and in
docs/fuzzing.md.
"""

import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def panic_message(log_path):
    if not log_path or not os.path.exists(log_path):
        return "crash"
    with open(log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r"panicked at ([^\n]*)\n([^\n]*)", text)
    if m:
        return f"panicked at {m.group(1).strip()} {m.group(2).strip()}"[:300]
    m = re.search(r"==\d+== ?ERROR: ([^\n]*)", text)
    return m.group(1)[:300] if m else "crash"


def main():
    target, path = sys.argv[1], sys.argv[2]
    log = sys.argv[3] if len(sys.argv) > 3 else None
    with open(path, "rb") as f:
        data = f.read()
    out = os.path.join(ROOT, "tests", "vectors", "regressions", f"{target}.json")
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
    else:
        doc = {
            "suite": "fuzz-regressions",
            "description": f"Minimised inputs on which the fuzz target `{target}` once failed "
            "(a panic or a broken invariant). Input: the target name and the raw fuzz input "
            "as hex (layout: fuzz/harness/" + target + ".rs). Expected: the driver returns. "
            "Replayed by core/tests/fuzz_replay.rs.",
            "cases": [],
        }
    h = hashlib.sha1(data).hexdigest()
    if any(c["input"]["hex"] == data.hex() for c in doc["cases"]):
        print(f"{out}: already has this input", file=sys.stderr)
        return
    doc["cases"].append(
        {
            "id": f"fuzz-{target}-{h[:12]}",
            "comment": f"{panic_message(log)}; fix: TBD",
            "flags": ["regression", "fuzz"],
            "input": {"target": target, "hex": data.hex()},
            "expected": {"outcome": "no_panic"},
        }
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"{out}: added fuzz-{target}-{h[:12]} ({len(data)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()

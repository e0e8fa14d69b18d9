//! Replays the fuzzing campaign's inputs on stable Rust, without libFuzzer.
//!
//! The per-target drivers are the very functions the cargo-fuzz targets call: the files of
//! `fuzz/harness/` are compiled into this test through `#[path]`. Each driver takes raw bytes,
//! and panics on a finding (a panic in core, or a broken invariant).
//!
//! * `seeds_replay`: every file of `fuzz/seeds/<target>/` (a committed, minimised slice of each
//!   corpus) is one raw input for `<target>`.
//! * `regressions_replay`: every case of `tests/vectors/regressions/*.json` — a minimised crash
//!   found by fuzzing — replays through its target. Layout (the vector format of
//!   `tests/vectors/README.md`):
//!   `input = {"target": "<target>", "hex": "<the raw input, lower-case hex>"}`,
//!   `expected = {"outcome": "no_panic"}` (the driver returns, i.e. no panic and every invariant
//!   of the target holds).
//!
//! Run with `cargo test -p tokenclock --test fuzz_replay` (the `verify` and `jwks` targets and the
//! JWT-bearer grant of `session` need `--all-features`; `make test` runs both ways).

mod common;

#[path = "../../fuzz/harness/mod.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `run(data)`, turning a panic into its message.
fn replay(run: fn(&[u8]), data: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| run(data))).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panic".to_owned())
    })
}

#[test]
fn seeds_replay() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (target, run) in harness::targets() {
        let dir = repo().join("fuzz").join("seeds").join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no seeds", dir.display());
        assert!(
            files.len() <= 64,
            "{}: keep the committed slice small",
            dir.display()
        );
        for f in files {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            total += 1;
            if let Err(msg) = replay(run, &data) {
                failures.push(format!("{target}/{}: {msg}", f.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn regressions_replay() {
    let dir = repo().join("tests").join("vectors").join("regressions");
    let targets = harness::targets();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    // No file yet is fine: cases appear when `make fuzz` finds something.
    let mut failures = Vec::new();
    let mut total = 0;
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        for case in common::load(&format!("regressions/{name}")) {
            total += 1;
            let target = case.input["target"].as_str().expect("input.target");
            let hex = case.input["hex"].as_str().expect("input.hex");
            let data = harness::unhex(hex).expect("input.hex is hex");
            assert_eq!(
                case.expected["outcome"], "no_panic",
                "{}: expected",
                case.id
            );
            let result = match targets.iter().find(|(t, _)| *t == target) {
                Some((_, run)) => replay(*run, &data),
                // verify/jwks cases need the `verify` feature.
                None if cfg!(not(feature = "verify")) && matches!(target, "verify" | "jwks") => {
                    Ok(())
                }
                None => Err(format!("unknown target {target}")),
            };
            if let Err(msg) = result {
                failures.push(format!("{} ({target}): {msg}", case.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} regression cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The seed files of the structured targets are written by `fuzz/extract_seeds.py` in the byte
/// format of `arbitrary` 1.x; this pins that format (a drift would silently turn the seeds into
/// other op sequences).
#[test]
fn arbitrary_encoding_is_as_documented() {
    use arbitrary::{Arbitrary, Unstructured};
    use harness::session::Op;
    // Op has 10 variants: variant 4 (Advance) is u32 ceil(4 * 2^32 / 10) = 0x6666_6667.
    let bytes = [0x67, 0x66, 0x66, 0x66, 0xd2, 0x04, 0x00, 0x00];
    let op = Op::arbitrary(&mut Unstructured::new(&bytes)).expect("decodes");
    assert!(matches!(op, Op::Advance { ms: 1234 }), "{op:?}");
    let op = Op::arbitrary(&mut Unstructured::new(&[0, 0, 0, 0])).expect("decodes");
    assert!(matches!(op, Op::Authorize), "{op:?}");
}

/// The op traces of `tests/vectors/fuzz-replay/<target>.json`: for the targets whose
/// drivers simulate a world (`skew`, `session`) or use the harness's keys (`verify`, `jwks`),
/// every seed of `fuzz/seeds/<target>/` and every regression case is run with recording on
/// (`harness::trace`), and the concrete binding-level calls with core's outcome for each are
/// written out; the Python and wasm suites replay them through their bindings and must get
/// the same outcomes. This test fails when the committed files differ from what the drivers
/// record now; `TOKENCLOCK_BLESS=1` rewrites them. At most `harness::trace::MAX_OPS` ops per
/// input are recorded.
#[cfg(all(feature = "verify", feature = "sign"))]
#[test]
fn op_traces_are_current() {
    use serde_json::{json, Value};
    const TRACED: &[&str] = &["skew", "session", "verify", "jwks"];
    let bless = std::env::var_os("TOKENCLOCK_BLESS").is_some_and(|v| v == "1");
    let out_dir = repo().join("tests").join("vectors").join("fuzz-replay");
    let targets = harness::targets();
    let mut stale = Vec::new();
    for &target in TRACED {
        let run = targets
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, r)| *r)
            .expect("traced target exists");
        let mut inputs: Vec<(String, String, Vec<u8>)> = Vec::new();
        let dir = repo().join("fuzz").join("seeds").join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            inputs.push((
                format!("fuzz-replay-{target}-{name}"),
                format!("fuzz/seeds/{target}/{name}"),
                data,
            ));
        }
        let reg = repo()
            .join("tests")
            .join("vectors")
            .join("regressions")
            .join(format!("{target}.json"));
        if reg.exists() {
            for case in common::load(&format!("regressions/{target}.json")) {
                let hex = case.input["hex"].as_str().expect("input.hex");
                inputs.push((
                    format!("fuzz-replay-{}", case.id),
                    format!("tests/vectors/regressions/{target}.json#{}", case.id),
                    harness::unhex(hex).expect("hex"),
                ));
            }
        }
        let mut lines = Vec::new();
        let mut total_ops = 0;
        for (id, from, data) in inputs {
            let (ops, truncated) = harness::trace::collect(|| {
                replay(run, &data).unwrap_or_else(|m| panic!("{from}: {m}"));
            });
            total_ops += ops.len();
            let case = json!({
                "id": id,
                "comment": format!("op trace of {from}"),
                "input": {"target": target, "from": from, "ops": ops, "truncated": truncated},
                "expected": {"outcome": "same_as_core"},
            });
            lines.push(serde_json::to_string(&case).expect("json"));
        }
        let mut head = json!({
            "suite": "fuzz-replay",
            "target": target,
            "description": format!(
                "Op traces of the {target} fuzz driver ({} inputs, {total_ops} ops): every seed of \
                 fuzz/seeds/{target}/ and every case of tests/vectors/regressions/{target}.json, \
                 as binding-level calls with core's outcome for each. Generated by \
                 core/tests/fuzz_replay.rs (op_traces_are_current); TOKENCLOCK_BLESS=1 rewrites.",
                lines.len()
            ),
        });
        if target == "jwks" {
            head["now_ms"] = json!(harness::jwks::NOW);
            head["tokens"] = json!(harness::jwks::tokens());
        }
        let head = serde_json::to_string(&head).expect("json");
        let text = format!(
            "{},\n\"cases\": [\n{}\n]}}\n",
            head.strip_suffix('}').expect("object"),
            lines.join(",\n")
        );
        let path = out_dir.join(format!("{target}.json"));
        // The file must stay a valid vector file.
        let _: Value = serde_json::from_str(&text).expect("valid JSON");
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        let same = current == text
            || serde_json::from_str::<Value>(&current).is_ok_and(|c| {
                mask_ecdsa(c) == mask_ecdsa(serde_json::from_str(&text).expect("json"))
            });
        if !same {
            if bless {
                std::fs::create_dir_all(&out_dir).expect("mkdir");
                std::fs::write(&path, &text).expect("write trace");
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "op traces out of date (the drivers now record other calls or outcomes): {stale:?}; \
         review, then rerun with TOKENCLOCK_BLESS=1 to rewrite"
    );
}

/// ECDSA signatures from the harness's signer are randomised: two runs make different (equally
/// valid) tokens. Masks the signature of every `ES*` token in a trace document, so that the
/// committed traces compare equal to a new recording that differs only there.
#[cfg(all(feature = "verify", feature = "sign"))]
fn mask_ecdsa(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let es = tokenclock::peek::peek(&s)
                .ok()
                .and_then(|p| p.alg)
                .is_some_and(|a| a.starts_with("ES"));
            match s.rsplit_once('.') {
                Some((message, _)) if es => Value::String(format!("{message}.<ecdsa>")),
                _ => Value::String(s),
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(mask_ecdsa).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, mask_ecdsa(v))).collect()),
        other => other,
    }
}

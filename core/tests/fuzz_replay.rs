//! Replays the fuzzing campaign's inputs on stable Rust, without libFuzzer (issue 9).
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

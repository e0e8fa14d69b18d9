//! Shared loader for `tests/vectors/**.json` (format: `tests/vectors/README.md`).
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One vector case.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub comment: String,
    pub flags: Vec<String>,
    pub input: Value,
    pub expected: Value,
}

/// `<repo>/tests/vectors`.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("vectors")
}

/// Loads one vector file by its path relative to `tests/vectors` (e.g. `"peek.json"`).
pub fn load(rel: &str) -> Vec<Case> {
    let path = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = doc["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no cases", path.display()));
    assert!(!cases.is_empty(), "{}: empty", path.display());
    cases
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().expect("case id").to_owned(),
            comment: c["comment"].as_str().unwrap_or_default().to_owned(),
            flags: c["flags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            input: c["input"].clone(),
            expected: c["expected"].clone(),
        })
        .collect()
}

/// Runs `check` on every case of a file, collecting failures so one run reports them all.
pub fn run(rel: &str, mut check: impl FnMut(&Case) -> Result<(), String>) -> usize {
    let cases = load(rel);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).err().map(|e| format!("{}: {e}", c.id)))
        .collect();
    assert!(
        failures.is_empty(),
        "{rel}: {} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    cases.len()
}

/// Integer field `name` of a JSON object, as i64.
pub fn int(v: &Value, name: &str) -> i64 {
    v[name]
        .as_i64()
        .unwrap_or_else(|| panic!("field {name} must be an integer in {v}"))
}

/// Optional integer field.
pub fn opt_int(v: &Value, name: &str) -> Option<i64> {
    v.get(name).and_then(Value::as_i64)
}

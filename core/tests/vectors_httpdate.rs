//! Runs `tests/vectors/http-date.json` and `tests/vectors/retry-after.json`.
//!
//! `http-date.json` cases have an optional `input.kind` (default `"parse"`):
//!
//! * `"parse"`: `input = {"value": str, "reference_ms": int}`:
//!   `parse_http_date(value, reference_ms)`. `expected` is
//!   `{"unix_ms": int, "formatted": str}` (the parsed instant and `format_http_date` of it,
//!   an IMF-fixdate) or `{"error": code}` with code one of `invalid_http_date`,
//!   `http_date_out_of_range`, `input_too_long`.
//! * `"format"`: `input = {"kind": "format", "unix_ms": int}`:
//!   `expected = {"formatted": str}`, the IMF-fixdate of `format_http_date(unix_ms)`.
//!
//! `retry-after.json`: `input = {"value": str, "reference_ms": int}`:
//! `parse_retry_after(value, reference_ms)`. `expected` is `{"delay_ms": int}` (delay-seconds),
//! `{"date_unix_ms": int}` (an HTTP-date, on the server's clock) or `{"error": code}` with code
//! one of `invalid_retry_after`, `retry_after_out_of_range`, `http_date_out_of_range`,
//! `input_too_long`.
//!
//! `reference_ms` is the local wall time; it only matters for rfc850 two-digit years.

mod common;

use serde_json::{json, Value};
use tokenclock::httpdate::{format_http_date, parse_http_date, parse_retry_after, RetryAfter};
use tokenclock::time::UnixMillis;
use tokenclock::ErrorCode;

fn value(input: &Value) -> Result<&str, String> {
    input["value"]
        .as_str()
        .ok_or_else(|| "input.value must be a string".to_owned())
}

fn compare(expected: &Value, got: Value) -> Result<(), String> {
    if *expected == got {
        Ok(())
    } else {
        Err(format!("expected {expected}, got {got}"))
    }
}

#[test]
fn http_date_vectors() {
    let mut parses = 0;
    let n = common::run("http-date.json", |case| {
        let input = &case.input;
        let got = match input["kind"].as_str().unwrap_or("parse") {
            "parse" => {
                parses += 1;
                let reference = UnixMillis(common::int(input, "reference_ms"));
                match parse_http_date(value(input)?, reference) {
                    Ok(t) => json!({"unix_ms": t.as_millis(), "formatted": format_http_date(t)}),
                    Err(e) => json!({"error": e.code()}),
                }
            }
            "format" => {
                json!({"formatted": format_http_date(UnixMillis(common::int(input, "unix_ms")))})
            }
            other => return Err(format!("unknown kind {other:?}")),
        };
        compare(&case.expected, got)
    });
    assert!(
        n >= 25 && parses >= 25,
        "too few cases: {n} ({parses} parse)"
    );
}

#[test]
fn retry_after_vectors() {
    let n = common::run("retry-after.json", |case| {
        let input = &case.input;
        let reference = UnixMillis(common::int(input, "reference_ms"));
        let got = match parse_retry_after(value(input)?, reference) {
            Ok(RetryAfter::Delay { ms }) => json!({"delay_ms": ms}),
            Ok(RetryAfter::Date(t)) => json!({"date_unix_ms": t.as_millis()}),
            Err(e) => json!({"error": e.code()}),
        };
        compare(&case.expected, got)
    });
    assert!(n >= 10, "too few cases: {n}");
}

/// Every successful parse vector re-parses from its own formatted output to the same instant.
#[test]
fn formatted_outputs_round_trip() {
    for case in common::load("http-date.json") {
        if let Some(formatted) = case.expected["formatted"].as_str() {
            let t = parse_http_date(formatted, UnixMillis(0))
                .unwrap_or_else(|e| panic!("{}: {e}", case.id));
            assert_eq!(format_http_date(t), formatted, "{}", case.id);
            if let Some(ms) = case.expected["unix_ms"].as_i64() {
                assert_eq!(t.as_millis(), ms, "{}", case.id);
            }
        }
    }
}

//! WebAssembly bindings for tokenclock (wasm-bindgen).
//!
//! Thin by design: this crate converts JS numbers to core types, maps errors to real JS
//! `Error` objects and reads the host's clocks; every decision lives in `tokenclock` (core).
//!
//! Times cross the JS edge as `number` (f64) milliseconds, never `bigint`: a `u64`/`i64`
//! would surface as a `bigint`, which no JS caller expects for `Date.now()`-style values.
//! Every number is validated before it reaches core (finite, integral, non-negative, at most
//! `Number.MAX_SAFE_INTEGER`) and a bad one throws a `RangeError` naming the parameter.
//! In wasm a panic kills the whole instance, so nothing here may panic on any input.
#![forbid(unsafe_code)]

use wasm_bindgen::prelude::*;

/// `Number.MAX_SAFE_INTEGER` (2^53 − 1): every integer up to it is exactly representable
/// in an f64, so the conversion to i64 below is exact.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Why a JS number was refused as a millisecond value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MillisError {
    NotANumber,
    NotFinite,
    Negative,
    NotAnInteger,
    TooLarge,
}

impl MillisError {
    /// The message of the `RangeError`: names the parameter and the problem (a number is
    /// not secret, but we still say what is wrong instead of echoing the value).
    fn message(self, param: &str) -> String {
        let what = match self {
            MillisError::NotANumber => "is NaN",
            MillisError::NotFinite => "is not finite",
            MillisError::Negative => "is negative",
            MillisError::NotAnInteger => "is not an integer",
            MillisError::TooLarge => "exceeds Number.MAX_SAFE_INTEGER",
        };
        format!("{param} {what}: expected a non-negative integer number of milliseconds")
    }
}

/// Converts a JS number of milliseconds to `i64`, refusing anything that is not a
/// non-negative safe integer. Pure Rust so it is unit-tested on the host.
fn millis_from_f64(value: f64) -> Result<i64, MillisError> {
    if value.is_nan() {
        Err(MillisError::NotANumber)
    } else if value.is_infinite() {
        Err(MillisError::NotFinite)
    } else if value < 0.0 {
        // -0.0 is not < 0.0, so it is accepted as 0 (JS code produces -0 easily).
        Err(MillisError::Negative)
    } else if value.fract() != 0.0 {
        Err(MillisError::NotAnInteger)
    } else if value > MAX_SAFE_INTEGER {
        Err(MillisError::TooLarge)
    } else {
        // In range and integral (checked above), so the cast is exact.
        Ok(value as i64)
    }
}

/// Like [`millis_from_f64`], but the error is a JS `RangeError` naming `param`.
fn millis_arg(param: &str, value: f64) -> Result<i64, JsValue> {
    millis_from_f64(value).map_err(|e| js_sys::RangeError::new(&e.message(param)).into())
}

/// The package version (the Rust workspace version, which the npm package shares).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Is a token with expiry `expMs` expired at `nowMs`, allowing `leewayMs` of leeway?
/// (`now − leeway ≥ exp`, RFC 7519 §4.1.4.) All arguments are Unix-epoch or duration
/// milliseconds; throws a `RangeError` for NaN, infinities, negatives and non-integers.
#[wasm_bindgen(js_name = rulesIsExpired)]
pub fn rules_is_expired(now_ms: f64, exp_ms: f64, leeway_ms: f64) -> Result<bool, JsValue> {
    let now = millis_arg("nowMs", now_ms)?;
    let exp = millis_arg("expMs", exp_ms)?;
    let leeway = millis_arg("leewayMs", leeway_ms)?;
    Ok(tokenclock::rules::is_expired(now, exp, leeway))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_non_negative_safe_integers() {
        assert_eq!(millis_from_f64(0.0), Ok(0));
        assert_eq!(millis_from_f64(-0.0), Ok(0));
        assert_eq!(millis_from_f64(1_700_000_000_123.0), Ok(1_700_000_000_123));
        assert_eq!(millis_from_f64(MAX_SAFE_INTEGER), Ok(9_007_199_254_740_991));
    }

    #[test]
    fn rejects_each_bad_kind_of_number() {
        assert_eq!(millis_from_f64(f64::NAN), Err(MillisError::NotANumber));
        assert_eq!(millis_from_f64(f64::INFINITY), Err(MillisError::NotFinite));
        assert_eq!(
            millis_from_f64(f64::NEG_INFINITY),
            Err(MillisError::NotFinite)
        );
        assert_eq!(millis_from_f64(-1.0), Err(MillisError::Negative));
        assert_eq!(millis_from_f64(0.5), Err(MillisError::NotAnInteger));
        assert_eq!(
            millis_from_f64(MAX_SAFE_INTEGER + 1.0),
            Err(MillisError::TooLarge)
        );
        assert_eq!(millis_from_f64(1e300), Err(MillisError::TooLarge));
    }

    #[test]
    fn message_names_the_parameter_and_the_problem() {
        assert_eq!(
            MillisError::Negative.message("leewayMs"),
            "leewayMs is negative: expected a non-negative integer number of milliseconds"
        );
    }
}

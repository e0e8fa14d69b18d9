//! Python bindings for tokenclock (PyO3), imported as `tokenclock._native`.
//!
//! Thin by design: this module converts Python values to core types and maps errors to
//! Python exceptions; the public API is the plain-Python package `tokenclock` beside it
//! (python/tokenclock/), and the `.pyi` stub there is checked against this module by
//! `mypy.stubtest`.
//!
//! Times cross as float seconds (as `time.time()` gives them) and become whole
//! milliseconds in core by flooring: exact for any value with at most millisecond
//! precision, and at worst one millisecond early for finer ones.
#![forbid(unsafe_code)]

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Why a float number of seconds was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondsError {
    NotANumber,
    NotFinite,
    Negative,
    OutOfRange,
}

impl SecondsError {
    /// The `ValueError` message: names the parameter and the problem, never the value.
    fn message(self, param: &str) -> String {
        let what = match self {
            SecondsError::NotANumber => "is NaN",
            SecondsError::NotFinite => "is not finite",
            SecondsError::Negative => "is negative",
            SecondsError::OutOfRange => "is out of range",
        };
        format!("{param} {what}: expected a finite number of seconds")
    }
}

/// Whether a negative value is meaningful for a parameter (a Unix time before 1970 is; a
/// leeway is not: leeway only ever makes a check more lenient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    AnyInstant,
    NonNegative,
}

/// Largest |seconds| accepted: about ±292 million years, so `s * 1000` stays well inside
/// i64 and the float-to-int cast can never saturate.
const MAX_ABS_SECONDS: f64 = 9.0e15;

/// Converts float seconds to i64 milliseconds (floor). Pure Rust so it is unit-tested
/// without an interpreter.
fn millis_from_seconds(value: f64, sign: Sign) -> Result<i64, SecondsError> {
    if value.is_nan() {
        Err(SecondsError::NotANumber)
    } else if value.is_infinite() {
        Err(SecondsError::NotFinite)
    } else if sign == Sign::NonNegative && value < 0.0 {
        Err(SecondsError::Negative)
    } else if value.abs() > MAX_ABS_SECONDS {
        Err(SecondsError::OutOfRange)
    } else {
        // |value * 1000| <= 9e18 < i64::MAX, so the cast is in range.
        Ok((value * 1000.0).floor() as i64)
    }
}

fn millis_arg(param: &str, value: f64, sign: Sign) -> PyResult<i64> {
    millis_from_seconds(value, sign).map_err(|e| PyValueError::new_err(e.message(param)))
}

/// The package version (the Rust workspace version, which the Python package shares).
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Is a token with expiry `exp_s` expired at `now_s`, allowing `leeway_s` seconds of
/// leeway? (`now - leeway >= exp`, RFC 7519 §4.1.4.) Raises `ValueError` for NaN,
/// infinities, out-of-range values and a negative leeway.
#[pyfunction]
fn rules_is_expired(now_s: f64, exp_s: f64, leeway_s: f64) -> PyResult<bool> {
    let now = millis_arg("now_s", now_s, Sign::AnyInstant)?;
    let exp = millis_arg("exp_s", exp_s, Sign::AnyInstant)?;
    let leeway = millis_arg("leeway_s", leeway_s, Sign::NonNegative)?;
    Ok(tokenclock::rules::is_expired(now, exp, leeway))
}

/// The native module `tokenclock._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(rules_is_expired, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_seconds_to_millis() {
        assert_eq!(millis_from_seconds(0.0, Sign::AnyInstant), Ok(0));
        assert_eq!(millis_from_seconds(1.5, Sign::AnyInstant), Ok(1500));
        assert_eq!(millis_from_seconds(1.0009, Sign::AnyInstant), Ok(1000));
        assert_eq!(millis_from_seconds(-1.0005, Sign::AnyInstant), Ok(-1001));
        assert_eq!(
            millis_from_seconds(1_700_000_000.25, Sign::NonNegative),
            Ok(1_700_000_000_250)
        );
    }

    #[test]
    fn rejects_each_bad_kind_of_number() {
        assert_eq!(
            millis_from_seconds(f64::NAN, Sign::AnyInstant),
            Err(SecondsError::NotANumber)
        );
        assert_eq!(
            millis_from_seconds(f64::NEG_INFINITY, Sign::AnyInstant),
            Err(SecondsError::NotFinite)
        );
        assert_eq!(
            millis_from_seconds(-0.001, Sign::NonNegative),
            Err(SecondsError::Negative)
        );
        assert_eq!(
            millis_from_seconds(1e16, Sign::AnyInstant),
            Err(SecondsError::OutOfRange)
        );
        assert_eq!(
            millis_from_seconds(-1e16, Sign::AnyInstant),
            Err(SecondsError::OutOfRange)
        );
    }

    #[test]
    fn message_names_the_parameter_and_the_problem() {
        assert_eq!(
            SecondsError::NotANumber.message("now_s"),
            "now_s is NaN: expected a finite number of seconds"
        );
    }
}

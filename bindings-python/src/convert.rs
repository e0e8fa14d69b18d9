//! Conversions at the Python edge: float seconds ⇄ integer milliseconds, bounded integers,
//! headers and bodies, JSON values, the host's clocks and the OS-backed RNG.
//!
//! Only representability is checked here (NaN, infinities, numbers whose milliseconds do not
//! fit an `i64`, integers outside their Rust type). Whether a value is *meaningful* (a
//! negative `expires_in`, a wall time before 1970, a leeway above the limit) is core's
//! decision and comes back as core's typed error with its stable code.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple};
use serde_json::Value;
use tokenclock::rng::SplitMix64;
use tokenclock::time as core_time;
use tokenclock::RngCore;

use crate::errors::Error;

/// Why a float number of seconds was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondsError {
    NotANumber,
    NotFinite,
    Negative,
    OutOfRange,
}

impl SecondsError {
    /// The message: names the parameter and the problem, never the value.
    pub fn message(self, param: &str) -> String {
        let what = match self {
            SecondsError::NotANumber => "is NaN",
            SecondsError::NotFinite => "is not finite",
            SecondsError::Negative => "is negative",
            SecondsError::OutOfRange => "is out of range",
        };
        format!("{param} {what}: expected a finite number of seconds")
    }
}

/// Whether a negative value is representable for a parameter at all (used only where core
/// has no range check of its own, e.g. the leeway of `rules_is_expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    AnyInstant,
    NonNegative,
}

/// Largest |seconds| accepted: about ±285 million years, so `s * 1000` stays inside `i64`
/// and the float-to-int cast can never saturate. Core range-checks the meaningful range.
pub const MAX_ABS_SECONDS: f64 = 9.0e15;

/// Float seconds → integer milliseconds, `round(s * 1000)` with ties to even exactly as
/// Python's `round` (the binding contract, docs/bindings.md). Pure Rust: unit-tested without
/// an interpreter.
pub fn millis_from_seconds(value: f64, sign: Sign) -> Result<i64, SecondsError> {
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
        Ok((value * 1000.0).round_ties_even() as i64)
    }
}

/// Integer milliseconds → float seconds.
pub fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Optional milliseconds → optional float seconds.
pub fn opt_seconds(ms: Option<i64>) -> Option<f64> {
    ms.map(seconds)
}

/// A number of seconds as given by Python (`float` or `int`). An `int` too large for a
/// float is kept as "out of range" so the message can name the parameter.
#[derive(Debug, Clone, Copy)]
pub struct Secs(pub f64);

impl<'a, 'py> FromPyObject<'a, 'py> for Secs {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<f64>() {
            Ok(v) => Ok(Secs(v)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Ok(Secs(f64::MAX)),
            Err(e) => Err(e),
        }
    }
}

impl Secs {
    /// Milliseconds, or `InvalidArgument` naming `param`.
    pub fn ms(self, param: &str) -> Result<i64, Error> {
        self.ms_signed(param, Sign::AnyInstant)
    }

    /// Milliseconds with a sign rule.
    pub fn ms_signed(self, param: &str, sign: Sign) -> Result<i64, Error> {
        millis_from_seconds(self.0, sign).map_err(|e| Error::Arg(e.message(param)))
    }
}

/// Optional seconds → optional milliseconds.
pub fn opt_ms(v: Option<Secs>, param: &str) -> Result<Option<i64>, Error> {
    v.map(|s| s.ms(param)).transpose()
}

/// An integer that must fit the Rust type `T`; anything else is `InvalidArgument` (never
/// `OverflowError`, so callers only ever see `ValueError`s for bad numbers).
#[derive(Debug, Clone, Copy)]
pub struct Int<T>(pub T);

impl<'a, 'py, T: TryFrom<i128>> FromPyObject<'a, 'py> for Int<T> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let out_of_range = || -> PyErr {
            Error::Arg(format!(
                "integer out of range for {}",
                std::any::type_name::<T>()
            ))
            .into()
        };
        match obj.extract::<i128>() {
            Ok(v) => T::try_from(v).map(Int).map_err(|_| out_of_range()),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Err(out_of_range()),
            Err(e) => Err(e),
        }
    }
}

/// HTTP header pairs from a mapping (`dict`, `httpx.Headers`: its `multi_items()` keeps
/// repeated names), or an iterable of `(name, value)` pairs. Names and values are `str`, or
/// `bytes` read as Latin-1 (the HTTP/1.1 octet view).
pub fn headers(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj else {
        return Ok(Vec::new());
    };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    let items = if obj.hasattr("multi_items")? {
        obj.call_method0("multi_items")?
    } else if obj.is_instance_of::<PyDict>() || obj.hasattr("items")? {
        obj.call_method0("items")?
    } else {
        obj.clone()
    };
    let mut out = Vec::new();
    for item in items.try_iter()? {
        let item = item?;
        let pair = item.cast::<PyTuple>().map(|t| t.to_owned()).or_else(|_| {
            item.cast::<PyList>()
                .map(|l| l.to_tuple())
                .map_err(|_| PyTypeError::new_err("headers must be (name, value) pairs"))
        })?;
        if pair.len() != 2 {
            return Err(PyTypeError::new_err("headers must be (name, value) pairs"));
        }
        out.push((
            header_text(&pair.get_item(0)?)?,
            header_text(&pair.get_item(1)?)?,
        ));
    }
    Ok(out)
}

fn header_text(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().iter().map(|&c| char::from(c)).collect());
    }
    Err(PyTypeError::new_err(
        "header names and values must be str or bytes",
    ))
}

/// A body: `bytes`, `bytearray` or `str` (UTF-8).
pub fn body(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err("body must be bytes, bytearray or str"))
}

/// A JSON value as a Python object (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`).
pub fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => json_map_to_py(py, map)?.into_any(),
    })
}

/// A JSON object as a Python `dict`.
pub fn json_map_to_py<'py>(
    py: Python<'py>,
    map: &serde_json::Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in map {
        d.set_item(k, json_to_py(py, v)?)?;
    }
    Ok(d)
}

/// A string as Python's `repr` writes it (single quotes, escapes), for `__repr__`s.
pub fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c) & 0xff)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A list of strings as Python's `repr` writes it.
pub fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| py_str(s.as_ref())).collect();
    format!("[{}]", inner.join(", "))
}

/// An optional string as Python's `repr` writes it (`None` or `'...'`).
pub fn py_opt_str(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_owned(), py_str)
}

// ----- clocks ----------------------------------------------------------------------------------

/// `(Instant, time.monotonic_ns())` read together once: monotonic readings are
/// `anchor + elapsed`, which equals `time.monotonic_ns()` (both are the OS monotonic clock:
/// CLOCK_MONOTONIC on Linux, mach_absolute_time on macOS, QPC on Windows) without a Python
/// call per reading.
static MONO_ANCHOR: OnceLock<(Instant, i128)> = OnceLock::new();

/// Reads `time.monotonic_ns()` once (module init) to anchor the monotonic clock.
pub fn init_clock(py: Python<'_>) -> PyResult<()> {
    if MONO_ANCHOR.get().is_none() {
        let ns: i128 = py.import("time")?.call_method0("monotonic_ns")?.extract()?;
        let _ = MONO_ANCHOR.set((Instant::now(), ns));
    }
    Ok(())
}

/// The host's two clocks now: wall as `time.time_ns()`, monotonic as `time.monotonic_ns()`,
/// both floored to milliseconds.
pub fn system_reading(py: Python<'_>) -> Result<core_time::Reading, Error> {
    if MONO_ANCHOR.get().is_none() {
        init_clock(py).map_err(|_| Error::Internal("cannot read time.monotonic_ns()"))?;
    }
    let (anchor, anchor_ns) = MONO_ANCHOR
        .get()
        .copied()
        .ok_or(Error::Internal("monotonic clock not anchored"))?;
    let mono_ns =
        anchor_ns.saturating_add(i128::try_from(anchor.elapsed().as_nanos()).unwrap_or(i128::MAX));
    let mono_ms = i64::try_from(mono_ns.div_euclid(1_000_000)).unwrap_or(i64::MAX);
    let wall_ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        // A wall clock before 1970: core rejects it with its range error.
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    core_time::Reading::new(wall_ms, mono_ms).map_err(Error::Time)
}

/// Where an object reads "now": the system clocks, or a callable returning a `Reading`.
pub enum Clock {
    System,
    Callable(Py<PyAny>),
}

impl Clock {
    /// From the `clock=` argument (`None`: the system clocks).
    pub fn from_arg(clock: Option<&Bound<'_, PyAny>>) -> PyResult<Clock> {
        match clock {
            None => Ok(Clock::System),
            Some(c) if c.is_none() => Ok(Clock::System),
            Some(c) if c.is_callable() => Ok(Clock::Callable(c.clone().unbind())),
            Some(_) => Err(PyTypeError::new_err(
                "clock must be a callable returning a tokenclock.Reading",
            )),
        }
    }

    /// The reading passed in, or the clock's.
    pub fn reading(
        &self,
        py: Python<'_>,
        given: Option<crate::time::Reading>,
    ) -> PyResult<core_time::Reading> {
        if let Some(r) = given {
            return Ok(r.0);
        }
        match self {
            Clock::System => Ok(system_reading(py)?),
            Clock::Callable(f) => {
                let out = f.bind(py).call0()?;
                let r = out.cast::<crate::time::Reading>().map_err(|_| {
                    PyTypeError::new_err("clock() must return a tokenclock.Reading")
                })?;
                Ok(r.get().0)
            }
        }
    }

    /// For the garbage collector (`__traverse__`).
    pub fn traverse(&self, visit: &pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Clock::Callable(f) = self {
            visit.call(f)?;
        }
        Ok(())
    }

    /// `repr` fragment.
    pub fn describe(&self) -> &'static str {
        match self {
            Clock::System => "system",
            Clock::Callable(_) => "callable",
        }
    }
}

// ----- randomness --------------------------------------------------------------------------

/// The OS random number generator (`getrandom`): PKCE verifiers, `state`, `jti`s and jitter.
///
/// `RngCore` cannot report failure; if the OS generator ever fails we panic, which the
/// entry-point guard turns into `TokenClockError(code="internal_error")` — never a weaker
/// fallback for secrets.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl RngCore for OsRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if getrandom::fill(dest).is_err() {
            panic!("the operating system's random number generator failed");
        }
    }
}

/// The RNG for an object: `SplitMix64(seed)` for deterministic tests, else the OS's.
pub fn rng(seed: Option<Int<u64>>) -> Box<dyn RngCore + Send> {
    match seed {
        Some(Int(s)) => Box::new(SplitMix64::new(s)),
        None => Box::new(OsRng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_seconds_to_millis_like_python_round() {
        assert_eq!(millis_from_seconds(0.0, Sign::AnyInstant), Ok(0));
        assert_eq!(millis_from_seconds(1.5, Sign::AnyInstant), Ok(1500));
        assert_eq!(millis_from_seconds(1.0009, Sign::AnyInstant), Ok(1001));
        assert_eq!(millis_from_seconds(1.0004, Sign::AnyInstant), Ok(1000));
        assert_eq!(millis_from_seconds(-1.0006, Sign::AnyInstant), Ok(-1001));
        assert_eq!(
            millis_from_seconds(1_700_000_000.25, Sign::NonNegative),
            Ok(1_700_000_000_250)
        );
        // Every millisecond value of a realistic wall time survives ms → s → ms.
        for ms in [
            1_700_000_000_001_i64,
            253_402_300_799_999,
            9_007_199_254_740,
            -1,
            -999,
        ] {
            assert_eq!(millis_from_seconds(seconds(ms), Sign::AnyInstant), Ok(ms));
        }
    }

    #[test]
    fn ties_go_to_even_like_python() {
        // 0.5 s, 2.5 s ... times 1000 are whole; a tie needs a half millisecond that binary
        // floats hold exactly: 0.0005 is not one, but 1/2048 s * 1000 = 0.48828125 is not a
        // tie either. Check the rounding mode itself, which is what Python's round() uses.
        assert_eq!((2.5f64).round_ties_even(), 2.0);
        assert_eq!((3.5f64).round_ties_even(), 4.0);
        assert_eq!((-2.5f64).round_ties_even(), -2.0);
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
            millis_from_seconds(f64::MAX, Sign::AnyInstant),
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

    #[test]
    fn os_rng_fills() {
        let mut r = OsRng;
        let (a, b) = (r.next_u64(), r.next_u64());
        assert_ne!(a, b);
    }
}

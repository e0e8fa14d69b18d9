//! `Reading`: both host clocks at one instant (core `time::Reading`), in float seconds.

use pyo3::prelude::*;
use tokenclock::time as core_time;

use crate::convert::{seconds, system_reading, Secs};
use crate::errors::{guard, Error};

/// A reading of the host's two clocks: `wall` (Unix seconds, like `time.time()`) and `mono`
/// (seconds on the monotonic clock, like `time.monotonic()`).
#[pyclass(
    frozen,
    eq,
    hash,
    from_py_object,
    module = "tokenclock._native",
    name = "Reading"
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reading(pub core_time::Reading);

impl Reading {
    pub fn wrap(r: core_time::Reading) -> Reading {
        Reading(r)
    }
}

#[pymethods]
impl Reading {
    /// Both clocks, validated by core (wall within 1970..=9999, mono within its range).
    #[new]
    fn new(wall: Secs, mono: Secs) -> PyResult<Self> {
        guard(|| {
            let r =
                core_time::Reading::new(wall.ms("wall")?, mono.ms("mono")?).map_err(Error::Time)?;
            Ok(Reading(r))
        })
    }

    /// The system clocks now (`time.time_ns()`, `time.monotonic_ns()`).
    #[staticmethod]
    fn now(py: Python<'_>) -> PyResult<Self> {
        guard(|| Ok(Reading(system_reading(py)?)))
    }

    /// Wall-clock time, Unix seconds.
    #[getter]
    fn wall(&self) -> f64 {
        seconds(self.0.wall.as_millis())
    }

    /// Monotonic time, seconds.
    #[getter]
    fn mono(&self) -> f64 {
        seconds(self.0.mono.as_millis())
    }

    /// Both clocks advanced by `seconds` (saturating).
    fn advanced(&self, seconds: Secs) -> PyResult<Self> {
        guard(|| Ok(Reading(self.0.advanced(seconds.ms("seconds")?))))
    }

    /// Wall elapsed minus monotonic elapsed since `earlier` when the two clocks disagree by
    /// more than one second (a step or a suspend), else `None`.
    fn discontinuity_since(&self, earlier: Reading) -> PyResult<Option<f64>> {
        guard(|| {
            Ok(self
                .0
                .discontinuity_since(&earlier.0)
                .map(|d| seconds(d.wall_excess_ms)))
        })
    }

    pub fn __repr__(&self) -> String {
        format!("Reading(wall={:.3}, mono={:.3})", self.wall(), self.mono())
    }

    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, (f64, f64))> {
        let cls = py.get_type::<Reading>().into_any().unbind();
        Ok((cls, (self.wall(), self.mono())))
    }
}

//! `Estimate` and `SkewEstimator` (core `skew`), plus SNTP packets (core `sntp`).

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tokenclock::httpdate::parse_http_date;
use tokenclock::skew as core_skew;
use tokenclock::sntp as core_sntp;
use tokenclock::time::UnixMillis;

use crate::convert::{opt_ms, opt_seconds, seconds, Clock, Int, Secs};
use crate::errors::{guard, Error, POISONED};
use crate::time::Reading;

/// The offset estimate (`server − local`) at one instant: `offset`, and the bounds `low` and
/// `high` (seconds; `None` when unbounded).
#[pyclass(
    frozen,
    eq,
    from_py_object,
    module = "tokenclock._native",
    name = "Estimate"
)]
#[derive(Clone, Copy, PartialEq)]
pub struct Estimate(pub core_skew::Estimate);

#[pymethods]
impl Estimate {
    #[new]
    #[pyo3(signature = (offset=Secs(0.0), low=None, high=None, agreeing=Int(0), samples=Int(0)),
        text_signature = "(offset=0.0, low=None, high=None, agreeing=0, samples=0)")]
    fn new(
        offset: Secs,
        low: Option<Secs>,
        high: Option<Secs>,
        agreeing: Int<u32>,
        samples: Int<u32>,
    ) -> PyResult<Self> {
        guard(|| {
            Ok(Estimate(core_skew::Estimate {
                offset_ms: offset.ms("offset")?,
                low_ms: opt_ms(low, "low")?,
                high_ms: opt_ms(high, "high")?,
                agreeing: agreeing.0,
                samples: samples.0,
            }))
        })
    }

    /// The estimate of an estimator that has seen nothing: offset 0, unbounded.
    #[staticmethod]
    fn unknown() -> Self {
        Estimate(core_skew::Estimate::UNKNOWN)
    }

    /// Best value of `server − local`, seconds.
    #[getter]
    fn offset(&self) -> f64 {
        seconds(self.0.offset_ms)
    }

    /// Lowest possible offset, or `None`.
    #[getter]
    fn low(&self) -> Option<f64> {
        opt_seconds(self.0.low_ms)
    }

    /// Highest possible offset, or `None`.
    #[getter]
    fn high(&self) -> Option<f64> {
        opt_seconds(self.0.high_ms)
    }

    /// Samples agreeing on `low..high`.
    #[getter]
    fn agreeing(&self) -> u32 {
        self.0.agreeing
    }

    /// Samples held.
    #[getter]
    fn samples(&self) -> u32 {
        self.0.samples
    }

    /// `high − low` when both are known.
    #[getter]
    fn width(&self) -> Option<f64> {
        opt_seconds(self.0.width_ms())
    }

    /// Both bounds known.
    #[getter]
    fn is_bounded(&self) -> bool {
        self.0.is_bounded()
    }

    /// Best guess of the server's clock when ours reads `t`.
    #[allow(clippy::wrong_self_convention)]
    fn to_server_time(&self, t: Secs) -> PyResult<f64> {
        guard(|| {
            Ok(seconds(
                self.0.to_server_time(UnixMillis(t.ms("t")?)).as_millis(),
            ))
        })
    }

    /// Best guess of our clock when the server's reads `t`.
    #[allow(clippy::wrong_self_convention)]
    fn to_local_time(&self, t: Secs) -> PyResult<f64> {
        guard(|| {
            Ok(seconds(
                self.0.to_local_time(UnixMillis(t.ms("t")?)).as_millis(),
            ))
        })
    }

    /// Earliest and latest the server's clock may read when ours reads `t`.
    fn server_time_bounds(&self, t: Secs) -> PyResult<(Option<f64>, Option<f64>)> {
        guard(|| {
            let (lo, hi) = self.0.server_time_bounds(UnixMillis(t.ms("t")?));
            Ok((
                lo.map(|x| seconds(x.as_millis())),
                hi.map(|x| seconds(x.as_millis())),
            ))
        })
    }

    fn __repr__(&self) -> String {
        let b = |v: Option<f64>| v.map_or_else(|| "None".to_owned(), |x| format!("{x:.3}"));
        format!(
            "Estimate(offset={:.3}, low={}, high={}, agreeing={}, samples={})",
            self.offset(),
            b(self.low()),
            b(self.high()),
            self.0.agreeing,
            self.0.samples
        )
    }
}

/// Where a sample came from, by its stable name.
fn source(name: &str) -> Result<core_skew::SampleSource, Error> {
    use core_skew::SampleSource as S;
    [S::DateHeader, S::Iat, S::Sntp, S::Manual]
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| Error::Arg("source must be one of date, iat, sntp, manual".into()))
}

/// `"wall_stepped"` or `"monotonic_paused"` (core `skew::Explanation`).
pub fn explanation_name(e: core_skew::Explanation) -> &'static str {
    match e {
        core_skew::Explanation::WallStepped => "wall_stepped",
        core_skew::Explanation::MonotonicPaused => "monotonic_paused",
    }
}

/// Reads an explanation name (see [`explanation_name`]).
pub fn explanation_from(name: &str) -> Result<core_skew::Explanation, Error> {
    match name {
        "wall_stepped" => Ok(core_skew::Explanation::WallStepped),
        "monotonic_paused" => Ok(core_skew::Explanation::MonotonicPaused),
        _ => Err(Error::Arg(
            "explanation must be 'wall_stepped' or 'monotonic_paused'".into(),
        )),
    }
}

/// The clock-offset estimator for one origin (core `SkewEstimator`). Thread-safe.
#[pyclass(frozen, module = "tokenclock._native", name = "SkewEstimator")]
pub struct SkewEstimator {
    inner: Mutex<core_skew::SkewEstimator>,
    clock: Clock,
}

impl SkewEstimator {
    fn with<T>(&self, f: impl FnOnce(&mut core_skew::SkewEstimator) -> T) -> Result<T, Error> {
        let mut g = self.inner.lock().map_err(|_| Error::Internal(POISONED))?;
        Ok(f(&mut g))
    }

    fn add(&self, sample: core_skew::Sample) -> Result<(), Error> {
        self.with(|e| e.add(sample))
    }
}

#[pymethods]
impl SkewEstimator {
    #[new]
    #[pyo3(signature = (drift_ppm=Int(core_skew::DEFAULT_DRIFT_PPM), max_samples=Int(core_skew::DEFAULT_MAX_SAMPLES), *, clock=None),
        text_signature = "(drift_ppm=200, max_samples=16, *, clock=None)")]
    fn new(
        drift_ppm: Int<u32>,
        max_samples: Int<usize>,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let config = core_skew::SkewConfig {
                drift_ppm: drift_ppm.0,
                max_samples: max_samples.0,
            };
            Ok(SkewEstimator {
                inner: Mutex::new(core_skew::SkewEstimator::with_config(config)),
                clock: Clock::from_arg(clock)?,
            })
        })
    }

    /// Drift bound (ppm) in force (clamped by core).
    #[getter]
    fn drift_ppm(&self) -> PyResult<u32> {
        guard(|| Ok(self.with(|e| e.config().drift_ppm)?))
    }

    /// Samples kept at most (clamped by core).
    #[getter]
    fn max_samples(&self) -> PyResult<usize> {
        guard(|| Ok(self.with(|e| e.config().max_samples)?))
    }

    /// Local clock discontinuities noticed so far.
    #[getter]
    fn discontinuities(&self) -> PyResult<u32> {
        guard(|| Ok(self.with(|e| e.discontinuities())?))
    }

    fn __len__(&self) -> PyResult<usize> {
        guard(|| Ok(self.with(|e| e.len())?))
    }

    /// Adds an HTTP `Date` header value seen on a response: the request was sent at `sent`
    /// and the response received at `received`.
    fn add_date(&self, date_header: &str, sent: Reading, received: Reading) -> PyResult<()> {
        guard(|| {
            let date = parse_http_date(date_header, received.0.wall).map_err(Error::HttpDate)?;
            let s = core_skew::Sample::from_date_header(date, sent.0, received.0)
                .map_err(Error::Skew)?;
            Ok(self.add(s)?)
        })
    }

    /// Adds a token's `iat` (Unix seconds) received at `received` (a lower bound only).
    fn add_iat(&self, iat: Secs, received: Reading) -> PyResult<()> {
        guard(|| {
            let s = core_skew::Sample::from_iat(iat.ms("iat")?, received.0).map_err(Error::Skew)?;
            Ok(self.add(s)?)
        })
    }

    /// Adds an SNTP reply (the dict `parse_sntp_reply` returns) received at `received`.
    fn add_sntp(&self, reply: &Bound<'_, PyDict>, received: Reading) -> PyResult<()> {
        guard(|| {
            let reply = sntp_reply_from_dict(reply)?;
            let s = core_skew::Sample::from_sntp(&reply, received.0).map_err(Error::Skew)?;
            Ok(self.add(s)?)
        })
    }

    /// Adds bounds given directly: the offset lay in `[low, high]` (`high=None`: no upper
    /// bound) at the reading `at`.
    fn add_bounds(&self, low: Secs, high: Option<Secs>, at: Reading) -> PyResult<()> {
        guard(|| {
            let s = core_skew::Sample::manual(low.ms("low")?, opt_ms(high, "high")?, at.0)
                .map_err(Error::Skew)?;
            Ok(self.add(s)?)
        })
    }

    /// Notes a reading of the local clocks; returns the discontinuity (wall elapsed minus
    /// monotonic elapsed, seconds) when one is noticed.
    #[pyo3(signature = (now=None))]
    fn observe(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Option<f64>> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(self
                .with(|e| e.observe(now))?
                .map(|d| seconds(d.wall_excess_ms)))
        })
    }

    /// The estimate at `now`.
    #[pyo3(signature = (now=None))]
    fn estimate(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Estimate> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(Estimate(self.with(|e| e.estimate(now))?))
        })
    }

    /// When to send the next `Date` probe so it halves the interval: `{"wait": seconds,
    /// "send_at": Reading}`, or `None` when the interval is at most `target_width` wide.
    #[pyo3(signature = (now, rtt, target_width))]
    fn next_date_probe<'py>(
        &self,
        py: Python<'py>,
        now: Option<Reading>,
        rtt: Secs,
        target_width: Secs,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            let (rtt, width) = (rtt.ms("rtt")?, target_width.ms("target_width")?);
            match self.with(|e| e.next_date_probe(now, rtt, width))? {
                None => Ok(None),
                Some(p) => {
                    let d = PyDict::new(py);
                    d.set_item("wait", seconds(p.wait_ms))?;
                    d.set_item("send_at", Reading(p.send_at))?;
                    Ok(Some(d))
                }
            }
        })
    }

    /// The last round-trip time seen on a sample of `source` (`date`, `iat`, `sntp`,
    /// `manual`), seconds.
    #[pyo3(signature = (source="date"))]
    fn last_rtt(&self, source: &str) -> PyResult<Option<f64>> {
        guard(|| {
            let s = self::source(source)?;
            Ok(opt_seconds(self.with(|e| e.last_rtt_ms(s))?))
        })
    }

    /// The discontinuities this estimator explained since the last call (each once): a list
    /// of `{"at": Reading, "wall_excess": seconds, "explanation": "wall_stepped" |
    /// "monotonic_paused"}` — for `apply_resolution` on other estimators of the same host and
    /// for `Lifetime.rebase(**resolution)`.
    fn take_resolutions<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        guard(|| {
            let taken = self.with(|e| e.take_resolutions())?;
            let mut out = Vec::with_capacity(taken.len());
            for r in taken {
                let d = PyDict::new(py);
                d.set_item("at", Reading(r.at))?;
                d.set_item("wall_excess", seconds(r.discontinuity.wall_excess_ms))?;
                d.set_item("explanation", explanation_name(r.explanation))?;
                out.push(d);
            }
            Ok(out)
        })
    }

    /// Applies an explanation learnt elsewhere (another estimator of the same host) to the
    /// discontinuity this one noticed at reading `to`: `"wall_stepped"` or
    /// `"monotonic_paused"`. One already explained, or none at `to`, is left alone.
    fn apply_resolution(&self, to: Reading, explanation: &str) -> PyResult<()> {
        guard(|| {
            let e = explanation_from(explanation)?;
            Ok(self.with(|est| est.apply_resolution(to.0, e))?)
        })
    }

    /// Drops every sample.
    fn clear(&self) -> PyResult<()> {
        guard(|| Ok(self.with(|e| e.clear())?))
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.clock.traverse(&visit)
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let (cfg, n) = self.with(|e| (e.config(), e.len()))?;
            Ok(format!(
                "SkewEstimator(drift_ppm={}, max_samples={}, samples={n}, clock='{}')",
                cfg.drift_ppm,
                cfg.max_samples,
                self.clock.describe()
            ))
        })
    }
}

// ----- SNTP -----------------------------------------------------------------------------------

/// An SNTP client request (core `sntp::build_request`): send `.packet` over UDP port 123.
#[pyclass(
    frozen,
    from_py_object,
    module = "tokenclock._native",
    name = "SntpRequest"
)]
#[derive(Clone, Copy)]
pub struct SntpRequest(pub core_sntp::SntpRequest);

#[pymethods]
impl SntpRequest {
    /// `transmit`: local wall time of sending (Unix seconds); `entropy`: 32 random bits
    /// (`None`: drawn from the OS).
    #[new]
    #[pyo3(signature = (transmit, entropy=None))]
    fn new(transmit: Secs, entropy: Option<Int<u32>>) -> PyResult<Self> {
        guard(|| {
            let entropy = match entropy {
                Some(e) => e.0,
                None => tokenclock::RngCore::next_u32(&mut crate::convert::OsRng),
            };
            Ok(SntpRequest(core_sntp::build_request(
                UnixMillis(transmit.ms("transmit")?),
                entropy,
            )))
        })
    }

    /// The 48-byte request packet.
    #[getter]
    fn packet<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.packet())
    }

    /// Local wall time of sending, Unix seconds.
    #[getter]
    fn transmit(&self) -> f64 {
        seconds(self.0.transmit().as_millis())
    }

    /// The 64-bit NTP transmit timestamp the reply must echo.
    #[getter]
    fn transmit_timestamp(&self) -> u64 {
        self.0.transmit_timestamp()
    }

    fn __repr__(&self) -> String {
        format!("SntpRequest(transmit={:.3})", self.transmit())
    }
}

fn leap_from(indicator: u8) -> Option<core_sntp::Leap> {
    use core_sntp::Leap;
    [Leap::NoWarning, Leap::InsertSecond, Leap::DeleteSecond]
        .into_iter()
        .find(|l| l.indicator() == indicator)
}

/// Reads back the dict of `parse_sntp_reply` (for `SkewEstimator.add_sntp`).
fn sntp_reply_from_dict(d: &Bound<'_, PyDict>) -> PyResult<core_sntp::SntpReply> {
    let item = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(k)?
            .ok_or_else(|| Error::Arg(format!("SNTP reply dict lacks {k:?}")).into())
    };
    let micros = |k: &str| -> PyResult<i64> {
        let s: Secs = item(k)?.extract()?;
        // Seconds with microsecond precision back to microseconds (ties to even).
        let us = s.0 * 1_000_000.0;
        if !us.is_finite() || us.abs() > 9.0e18 {
            return Err(Error::Arg(format!("SNTP reply {k} is out of range")).into());
        }
        Ok(us.round_ties_even() as i64)
    };
    let Int(leap): Int<u8> = item("leap")?.extract()?;
    Ok(core_sntp::SntpReply {
        offset_us: micros("offset")?,
        delay_us: micros("delay")?,
        stratum: item("stratum")?.extract::<Int<u8>>()?.0,
        leap: leap_from(leap)
            .ok_or_else(|| Error::Arg("SNTP reply leap must be 0, 1 or 2".into()))?,
        version: item("version")?.extract::<Int<u8>>()?.0,
        server_transmit: UnixMillis(
            item("server_transmit")?
                .extract::<Secs>()?
                .ms("server_transmit")?,
        ),
    })
}

/// Checks an SNTP reply against the request it answers, received at local wall time
/// `received`: `{"offset", "delay", "error_bound", "server_transmit"}` in seconds, plus
/// `"stratum"`, `"leap"` (0/1/2) and `"version"`.
#[pyfunction]
pub fn parse_sntp_reply<'py>(
    py: Python<'py>,
    reply: &[u8],
    request: SntpRequest,
    received: Secs,
) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let r = core_sntp::parse_reply(reply, &request.0, UnixMillis(received.ms("received")?))
            .map_err(Error::Sntp)?;
        let us = |v: i64| v as f64 / 1_000_000.0;
        let d = PyDict::new(py);
        d.set_item("offset", us(r.offset_us))?;
        d.set_item("delay", us(r.delay_us))?;
        d.set_item("error_bound", us(r.error_bound_us()))?;
        d.set_item("stratum", r.stratum)?;
        d.set_item("leap", r.leap.indicator())?;
        d.set_item("version", r.version)?;
        d.set_item("server_transmit", seconds(r.server_transmit.as_millis()))?;
        Ok(d)
    })
}

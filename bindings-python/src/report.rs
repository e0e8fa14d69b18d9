//! The command line's reports (core `report`): the renderers behind `tokenclock inspect`,
//! `skew`, `ages` and `simulate`, the sans-I/O `SkewProbe` and `AgesCollector`, the usage
//! texts and errors, and the argument parsers both front-ends share (docs/cli.md).
//!
//! One-to-one with core, in the binding's conventions: times are float seconds (core's
//! `*_ms` integers become seconds, `round(s * 1000)` on the way in), names are snake_case.
//! A [`Rendered`] carries strings only: `text`, `json` (core's `Rendered::json_text`, the one
//! serialisation a front-end prints), `exit_code` and `stream`.
//!
//! A core `ReportError` (a flag's value rejected by a parser) is raised as `InvalidArgument`
//! with `.what` (the flag) and the core error itself attached, so that
//! [`argument_error`] can render exactly what core renders for it.

use std::sync::Mutex;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tokenclock::monitor::SkewMonitor as CoreMonitor;
use tokenclock::report as core_r;
use tokenclock::sim as core_sim;
use tokenclock::time::UnixMillis;

use crate::convert::{self, opt_seconds, seconds, Int, Secs};
use crate::errors::{guard, Error, Exc, POISONED};
use crate::skew::Estimate;
use crate::time::Reading;
use crate::verify::SkewMonitor;

// ----- errors -----------------------------------------------------------------------------------

/// The core error behind an `InvalidArgument` raised by a parser of this module (attribute
/// `_report_error`), for [`argument_error`]. Not exported.
#[pyclass(frozen, module = "tokenclock._native", name = "_ReportError")]
struct ReportErrorBox(core_r::ReportError);

/// `InvalidArgument` (code `invalid_argument`, `.what` the flag) for a core `ReportError`.
fn report_error(e: core_r::ReportError) -> PyErr {
    Python::attach(|py| {
        let what = match &e {
            core_r::ReportError::InvalidArgument { what, .. } => Some(what.clone()),
            _ => None,
        };
        let build = || -> PyResult<Bound<'_, PyAny>> {
            let attrs = vec![
                ("what", what.into_pyobject(py)?.into_any()),
                (
                    "_report_error",
                    Bound::new(py, ReportErrorBox(e.clone()))?.into_any(),
                ),
            ];
            crate::errors::make(py, Exc::InvalidArgument, e_code(&e), &e.to_string(), attrs)
        };
        match build() {
            Ok(inst) => PyErr::from_value(inst),
            Err(err) => err,
        }
    })
}

fn e_code(e: &core_r::ReportError) -> &'static str {
    use tokenclock::ErrorCode;
    e.code()
}

// ----- Rendered ---------------------------------------------------------------------------------

/// One command's output, ready to print: `text` (the human report, on `stream`), `json` (what
/// `--json` prints, always on stdout), `exit_code` (0, 1 a finding, 2 usage/input) and
/// `stream` (`"stdout"` or `"stderr"`).
#[pyclass(frozen, module = "tokenclock._native", name = "Rendered")]
pub struct Rendered {
    text: String,
    json: String,
    exit_code: i32,
    stream: &'static str,
}

impl Rendered {
    fn wrap(r: core_r::Rendered) -> Rendered {
        Rendered {
            json: r.json_text(),
            stream: match r.stream {
                core_r::Stream::Stdout => "stdout",
                core_r::Stream::Stderr => "stderr",
            },
            exit_code: r.exit_code,
            text: r.text,
        }
    }
}

#[pymethods]
impl Rendered {
    /// The human report, ending with a newline.
    #[getter]
    fn text(&self) -> &str {
        &self.text
    }

    /// The `--json` object as printed: keys sorted, two-space indent, a final newline.
    #[getter]
    fn json(&self) -> &str {
        &self.json
    }

    /// The process exit code.
    #[getter]
    fn exit_code(&self) -> i32 {
        self.exit_code
    }

    /// Where `text` goes: `"stdout"` or `"stderr"` (the JSON always goes to stdout).
    #[getter]
    fn stream(&self) -> &'static str {
        self.stream
    }

    /// What to print: `json` when asked for, else `text`.
    #[pyo3(signature = (json=false))]
    fn output(&self, json: bool) -> &str {
        if json {
            &self.json
        } else {
            &self.text
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Rendered(exit_code={}, stream='{}', text=<{} characters>)",
            self.exit_code,
            self.stream,
            self.text.chars().count()
        )
    }
}

// ----- errors and help ------------------------------------------------------------------------

/// Bad usage (unknown flag, missing argument): one line on stderr, exit 2. `command` is one of
/// `inspect`, `skew`, `ages`, `simulate` or `None`.
#[pyfunction]
#[pyo3(signature = (command, message))]
pub fn usage_error(command: Option<&str>, message: &str) -> PyResult<Rendered> {
    guard(|| Ok(Rendered::wrap(core_r::usage_error(command, message))))
}

/// The `InvalidArgument` raised by one of this module's parsers (`parse_seconds_arg`, ...,
/// `SkewProbe`, `AgesCollector`) as core renders it: code `invalid_argument`, exit 2.
#[pyfunction]
#[pyo3(signature = (command, error))]
pub fn argument_error(command: Option<&str>, error: &Bound<'_, PyAny>) -> PyResult<Rendered> {
    guard(|| {
        let boxed = error
            .getattr("_report_error")
            .ok()
            .and_then(|b| b.cast::<ReportErrorBox>().ok().map(|b| b.get().0.clone()))
            .ok_or_else(|| {
                PyTypeError::new_err(
                    "error must be an InvalidArgument raised by a tokenclock report parser",
                )
            })?;
        Ok(Rendered::wrap(core_r::argument_error(command, &boxed)))
    })
}

/// An input that could not be read: `what` is the path as given (or `"standard input"`),
/// `problem` one of `not_found`, `permission_denied`, `is_a_directory`, `too_large`,
/// `io_error`. Exit 2, stderr.
#[pyfunction]
#[pyo3(signature = (command, what, problem))]
pub fn input_error(command: Option<&str>, what: &str, problem: &str) -> PyResult<Rendered> {
    guard(|| {
        let p = core_r::InputProblem::from_code(problem).ok_or_else(|| {
            Error::Arg(
                "problem must be one of not_found, permission_denied, is_a_directory, \
                 too_large, io_error"
                    .into(),
            )
        })?;
        Ok(Rendered::wrap(core_r::input_error(command, what, p)))
    })
}

/// The usage text of `command` (`None`: the command list). Exit 0, stdout.
#[pyfunction]
#[pyo3(signature = (command=None))]
pub fn help(command: Option<&str>) -> PyResult<Rendered> {
    guard(|| Ok(Rendered::wrap(core_r::help(command))))
}

// ----- argument parsers -----------------------------------------------------------------------

/// A flag's decimal seconds (optional sign, digits, at most three decimals; no exponent,
/// spaces or underscores) as float seconds; raises `InvalidArgument` naming `what`.
#[pyfunction]
pub fn parse_seconds_arg(what: &str, text: &str) -> PyResult<f64> {
    guard(|| {
        core_r::parse_seconds_arg(what, text)
            .map(seconds)
            .map_err(report_error)
    })
}

/// A flag's non-negative decimal integer, at most `max`; raises `InvalidArgument`.
#[pyfunction]
pub fn parse_count_arg(what: &str, text: &str, max: Int<u64>) -> PyResult<u64> {
    guard(|| core_r::parse_count_arg(what, text, max.0).map_err(report_error))
}

/// `--ntp HOST[:PORT]` as `(host, port)` (IPv6 with a port as `[ADDR]:PORT`).
#[pyfunction]
#[pyo3(signature = (text, default_port=Int(123)), text_signature = "(text, default_port=123)")]
pub fn parse_host_port(text: &str, default_port: Int<u16>) -> PyResult<(String, u16)> {
    guard(|| core_r::parse_host_port(text, default_port.0).map_err(report_error))
}

/// `--time-field`: `("column", n)` for digits (1-based), else `("key", spec)`.
#[pyfunction]
pub fn parse_time_field<'py>(
    py: Python<'py>,
    spec: &str,
) -> PyResult<(&'static str, Bound<'py, PyAny>)> {
    guard(
        || match core_r::TimeField::parse(spec).map_err(report_error)? {
            core_r::TimeField::Column(n) => Ok(("column", n.into_pyobject(py)?.into_any())),
            core_r::TimeField::Key(k) => Ok(("key", k.into_pyobject(py)?.into_any())),
        },
    )
}

/// A log timestamp (RFC 3339 with an offset, or Unix seconds / milliseconds) as Unix seconds.
#[pyfunction]
pub fn parse_timestamp(text: &str) -> PyResult<Option<f64>> {
    guard(|| Ok(opt_seconds(core_r::parse_timestamp(text))))
}

/// The JWT-shaped substrings of a line (what `ages` looks at).
#[pyfunction]
pub fn find_tokens(line: &str) -> PyResult<Vec<String>> {
    guard(|| {
        Ok(core_r::find_tokens(line)
            .into_iter()
            .map(str::to_owned)
            .collect())
    })
}

/// The code and message core reports for a transport failure code (`timeout`, `dns_error`,
/// `connect_error`, `tls_error`, `http_error`; anything else is `io_error`).
#[pyfunction]
pub fn transport_error_message(code: &str) -> (&'static str, &'static str) {
    core_r::transport_error_message(code)
}

// ----- formatting -----------------------------------------------------------------------------

/// Unix seconds as ISO 8601 UTC (`2023-11-14T22:13:20Z`, `.mmm` when not whole).
#[pyfunction]
pub fn iso8601_utc(t: Secs) -> PyResult<String> {
    guard(|| Ok(core_r::iso8601_utc(t.ms("t")?)))
}

/// A duration's magnitude, truncated: `250 ms`, `3.2 s`, `4m12s`, `2h05m`, `3d04h`.
#[pyfunction]
pub fn human_duration(d: Secs) -> PyResult<String> {
    guard(|| Ok(core_r::human_duration(d.ms("d")?)))
}

/// A signed duration: `+3.2 s`, `-250 ms`, `0 ms`.
#[pyfunction]
pub fn human_signed(d: Secs) -> PyResult<String> {
    guard(|| Ok(core_r::human_signed(d.ms("d")?)))
}

/// An instant relative to now, given `instant − now`: `in 4m12s`, `4m12s ago`, `now`.
#[pyfunction]
pub fn human_relative(delta: Secs) -> PyResult<String> {
    guard(|| Ok(core_r::human_relative(delta.ms("delta")?)))
}

/// Signed seconds with three decimals: `+1.250 s`.
#[pyfunction]
pub fn signed_seconds(d: Secs) -> PyResult<String> {
    guard(|| Ok(core_r::signed_seconds(d.ms("d")?)))
}

// ----- inspect --------------------------------------------------------------------------------

/// The clock of the `--server` measured before inspecting: its name (the URL as given) and
/// its offset estimate at the inspection's `now`.
#[pyclass(frozen, module = "tokenclock._native", name = "ServerClock")]
pub struct ServerClock(core_r::ServerClock);

#[pymethods]
impl ServerClock {
    #[new]
    fn new(origin: String, estimate: Estimate) -> Self {
        ServerClock(core_r::ServerClock {
            origin,
            estimate: estimate.0,
        })
    }

    /// The URL as given.
    #[getter]
    fn origin(&self) -> &str {
        &self.0.origin
    }

    /// Its offset estimate (`server − local`).
    #[getter]
    fn estimate(&self) -> Estimate {
        Estimate(self.0.estimate)
    }

    fn __repr__(&self) -> String {
        format!("ServerClock(origin={})", convert::py_str(&self.0.origin))
    }
}

/// A verification key as read from `--key FILE` (`kind="key"`: PEM, JWK or HMAC secret by
/// content) or `--jwks FILE` (`kind="jwks"`), with the verifier's options: `algorithms`
/// (`--alg`), `leeway` seconds (`None`: 5 s), `issuer`, `audience`. `repr` hides the key.
#[pyclass(frozen, module = "tokenclock._native", name = "KeyInput")]
pub struct KeyInput(core_r::KeyInput);

#[pymethods]
impl KeyInput {
    #[new]
    #[pyo3(signature = (kind, contents, algorithms, *, leeway=None, issuer=None, audience=Vec::new()),
        text_signature = "(kind, contents, algorithms, *, leeway=None, issuer=None, audience=[])")]
    fn new(
        kind: &str,
        contents: &Bound<'_, PyAny>,
        algorithms: Vec<String>,
        leeway: Option<Secs>,
        issuer: Option<String>,
        audience: Vec<String>,
    ) -> PyResult<Self> {
        guard(|| {
            let kind = match kind {
                "key" => core_r::KeyFileKind::Key,
                "jwks" => core_r::KeyFileKind::Jwks,
                _ => return Err(Error::Arg("kind must be \"key\" or \"jwks\"".into()).into()),
            };
            Ok(KeyInput(core_r::KeyInput {
                kind,
                contents: convert::body(contents)?,
                algorithms,
                leeway_ms: convert::opt_ms(leeway, "leeway")?,
                issuer,
                audience,
            }))
        })
    }

    /// `"key"` or `"jwks"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.0.kind {
            core_r::KeyFileKind::Key => "key",
            core_r::KeyFileKind::Jwks => "jwks",
        }
    }

    /// The pinned algorithm names, as given.
    #[getter]
    fn algorithms(&self) -> Vec<String> {
        self.0.algorithms.clone()
    }

    /// The leeway, seconds, or `None` for the verifier's default.
    #[getter]
    fn leeway(&self) -> Option<f64> {
        opt_seconds(self.0.leeway_ms)
    }

    /// The expected issuer, or `None`.
    #[getter]
    fn issuer(&self) -> Option<String> {
        self.0.issuer.clone()
    }

    /// The expected audiences (empty: not checked).
    #[getter]
    fn audience(&self) -> Vec<String> {
        self.0.audience.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "KeyInput(kind='{}', contents=<{} bytes>, algorithms={})",
            self.kind(),
            self.0.contents.len(),
            convert::py_list(&self.0.algorithms)
        )
    }
}

/// `inspect TOKEN`: the token's header and claims (unverified unless `key`), its time claims
/// relative to `now` (Unix seconds, this machine's wall clock) and to `server`'s clock, the
/// expiry state and warnings. Never raises for a bad token: that is an exit-2 `Rendered`.
#[pyfunction]
#[pyo3(signature = (token, now, *, server=None, key=None, color=false))]
pub fn inspect(
    py: Python<'_>,
    token: &str,
    now: Secs,
    server: Option<&Bound<'_, ServerClock>>,
    key: Option<&Bound<'_, KeyInput>>,
    color: bool,
) -> PyResult<Rendered> {
    guard(|| {
        let options = core_r::InspectOptions {
            server: server.map(|s| s.get().0.clone()),
            key: key.map(|k| k.get().0.clone()),
            color,
        };
        let now = UnixMillis(now.ms("now")?);
        // Signature checks can be CPU-heavy: other threads run meanwhile.
        Ok(Rendered::wrap(
            py.detach(|| core_r::inspect(token, now, &options)),
        ))
    })
}

// ----- skew -----------------------------------------------------------------------------------

fn origin_source(name: &str) -> Result<core_r::OriginSource, Error> {
    core_r::OriginSource::from_name(name)
        .ok_or_else(|| Error::Arg("source must be \"date\" or \"sntp\"".into()))
}

/// One measured origin for `skew`: `name` (as given), `source` (`"date"` or `"sntp"`), its
/// `estimate`, the last round trip `rtt` (seconds), responses `discarded`, and `error`
/// (`(code, message)`: what stopped the measurement) or `None`.
#[pyclass(frozen, module = "tokenclock._native", name = "SkewOrigin")]
pub struct SkewOrigin(core_r::SkewOrigin);

#[pymethods]
impl SkewOrigin {
    #[new]
    #[pyo3(signature = (name, source, estimate, *, rtt=None, discarded=Int(0), error=None),
        text_signature = "(name, source, estimate, *, rtt=None, discarded=0, error=None)")]
    fn new(
        name: String,
        source: &str,
        estimate: Estimate,
        rtt: Option<Secs>,
        discarded: Int<u32>,
        error: Option<(String, String)>,
    ) -> PyResult<Self> {
        guard(|| {
            Ok(SkewOrigin(core_r::SkewOrigin {
                name,
                source: origin_source(source)?,
                estimate: estimate.0,
                rtt_ms: convert::opt_ms(rtt, "rtt")?,
                discarded: discarded.0,
                error: error.map(|(code, message)| core_r::OriginError { code, message }),
            }))
        })
    }

    /// As given on the command line.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// `"date"` or `"sntp"`.
    #[getter]
    fn source(&self) -> &'static str {
        self.0.source.as_str()
    }

    /// The offset estimate at the end of the measurement.
    #[getter]
    fn estimate(&self) -> Estimate {
        Estimate(self.0.estimate)
    }

    /// The last round trip, seconds.
    #[getter]
    fn rtt(&self) -> Option<f64> {
        opt_seconds(self.0.rtt_ms)
    }

    /// Exchanges whose sample was thrown away (cached response, local clock jump).
    #[getter]
    fn discarded(&self) -> u32 {
        self.0.discarded
    }

    /// `(code, message)` of what stopped the measurement, or `None`.
    #[getter]
    fn error(&self) -> Option<(String, String)> {
        self.0
            .error
            .as_ref()
            .map(|e| (e.code.clone(), e.message.clone()))
    }

    fn __repr__(&self) -> String {
        let e = &self.0.estimate;
        format!(
            "SkewOrigin(name={}, source='{}', offset={:.3}, samples={}, error={})",
            convert::py_str(&self.0.name),
            self.source(),
            seconds(e.offset_ms),
            e.samples,
            convert::py_opt_str(self.0.error.as_ref().map(|e| e.code.as_str()))
        )
    }
}

/// `skew`: each origin's offset with its interval, round trip and samples; disagreements;
/// exit 1 when an offset is or may be beyond `±max_offset` seconds, 2 when an origin could
/// not be measured.
#[pyfunction]
#[pyo3(signature = (origins, max_offset=Secs(1.0), color=false),
    text_signature = "(origins, max_offset=1.0, color=False)")]
pub fn skew(
    origins: Vec<Bound<'_, SkewOrigin>>,
    max_offset: Secs,
    color: bool,
) -> PyResult<Rendered> {
    guard(|| {
        let list: Vec<core_r::SkewOrigin> = origins.iter().map(|o| o.get().0.clone()).collect();
        Ok(Rendered::wrap(core_r::skew(
            &list,
            max_offset.ms("max_offset")?,
            color,
        )))
    })
}

/// What a `SkewProbe` wants next: `kind` is `"send"` (sleep `wait` seconds, until `send_at`,
/// then make one exchange, giving up after `timeout` seconds) or `"done"`.
#[pyclass(frozen, module = "tokenclock._native", name = "ProbeAction")]
pub struct ProbeAction {
    kind: &'static str,
    wait_ms: Option<i64>,
    send_at: Option<Reading>,
    timeout_ms: Option<i64>,
}

#[pymethods]
impl ProbeAction {
    /// `"send"` or `"done"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// Seconds to wait before sending (`send`), else `None`.
    #[getter]
    fn wait(&self) -> Option<f64> {
        opt_seconds(self.wait_ms)
    }

    /// The instant to send at (`send`), else `None`.
    #[getter]
    fn send_at(&self) -> Option<Reading> {
        self.send_at
    }

    /// Seconds allowed for the exchange (`send`), else `None`.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        opt_seconds(self.timeout_ms)
    }

    fn __repr__(&self) -> String {
        match (self.wait(), self.timeout()) {
            (Some(w), Some(t)) => format!("ProbeAction(kind='send', wait={w:.3}, timeout={t:.3})"),
            _ => format!("ProbeAction(kind='{}')", self.kind),
        }
    }
}

/// Measures one origin for `skew`, sans I/O (core `SkewProbe`): `poll(now)` says when to send;
/// the caller does the HTTP `HEAD` (`on_date_response`) or the SNTP exchange
/// (`sntp_request`, then `on_sntp_reply`), or reports a transport failure (`on_error`);
/// at `done`, `origin(now)` is the result. `source` is `"date"` or `"sntp"`; `samples`
/// `None` is the default (8 for `date`, 1 for `sntp`), else 1–64. Thread-safe.
#[pyclass(frozen, module = "tokenclock._native", name = "SkewProbe")]
pub struct SkewProbe(Mutex<core_r::SkewProbe>);

impl SkewProbe {
    fn with<T>(&self, f: impl FnOnce(&mut core_r::SkewProbe) -> T) -> Result<T, Error> {
        let mut g = self.0.lock().map_err(|_| Error::Internal(POISONED))?;
        Ok(f(&mut g))
    }
}

#[pymethods]
impl SkewProbe {
    #[new]
    #[pyo3(signature = (name, source, samples=None))]
    fn new(name: &str, source: &str, samples: Option<Int<u32>>) -> PyResult<Self> {
        guard(|| {
            let source = origin_source(source)?;
            let probe =
                core_r::SkewProbe::new(name, source, samples.map(|s| s.0)).map_err(report_error)?;
            Ok(SkewProbe(Mutex::new(probe)))
        })
    }

    /// What to do next at `now`.
    fn poll(&self, now: Reading) -> PyResult<ProbeAction> {
        guard(|| {
            Ok(match self.with(|p| p.poll(now.0))? {
                core_r::ProbeAction::Send {
                    wait_ms,
                    send_at,
                    timeout_ms,
                } => ProbeAction {
                    kind: "send",
                    wait_ms: Some(wait_ms),
                    send_at: Some(Reading(send_at)),
                    timeout_ms: Some(timeout_ms),
                },
                _ => ProbeAction {
                    kind: "done",
                    wait_ms: None,
                    send_at: None,
                    timeout_ms: None,
                },
            })
        })
    }

    /// SNTP: the 48-byte request to send now (`now` read just before sending, `entropy` 32
    /// random bits from the OS).
    fn sntp_request<'py>(
        &self,
        py: Python<'py>,
        now: Reading,
        entropy: Int<u32>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let packet = self.with(|p| p.sntp_request(now.0, entropy.0))?;
            Ok(PyBytes::new(py, &packet))
        })
    }

    /// A `Date` origin's response: its `Date` and `Age` header values (`None` when absent),
    /// and the readings just before sending and on receipt.
    fn on_date_response(
        &self,
        date: Option<&str>,
        age: Option<&str>,
        sent: Reading,
        received: Reading,
    ) -> PyResult<()> {
        guard(|| Ok(self.with(|p| p.on_date_response(date, age, sent.0, received.0))?))
    }

    /// An SNTP reply's bytes and the reading on receipt.
    fn on_sntp_reply(&self, reply: &[u8], received: Reading) -> PyResult<()> {
        guard(|| Ok(self.with(|p| p.on_sntp_reply(reply, received.0))?))
    }

    /// The exchange failed in transport: `timeout`, `dns_error`, `connect_error`,
    /// `tls_error`, `http_error` (anything else is reported as `io_error`).
    fn on_error(&self, code: &str) -> PyResult<()> {
        guard(|| Ok(self.with(|p| p.on_error(code))?))
    }

    /// True once `poll` would say `done`.
    #[getter]
    fn is_done(&self) -> PyResult<bool> {
        guard(|| Ok(self.with(|p| p.is_done())?))
    }

    /// The result at `now`, for `skew`.
    fn origin(&self, now: Reading) -> PyResult<SkewOrigin> {
        guard(|| Ok(SkewOrigin(self.with(|p| p.origin(now.0))?)))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let done = self.with(|p| p.is_done())?;
            Ok(format!(
                "SkewProbe(done={})",
                if done { "True" } else { "False" }
            ))
        })
    }
}

// ----- ages -----------------------------------------------------------------------------------

fn stats_dict<'py>(py: Python<'py>, s: &core_r::AgesStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("lines", s.lines)?;
    d.set_item("tokens", s.tokens)?;
    d.set_item("recorded", s.recorded)?;
    d.set_item("unreadable", s.unreadable)?;
    d.set_item("no_iat", s.no_iat)?;
    d.set_item("no_timestamp", s.no_timestamp)?;
    d.set_item("skipped", s.skipped())?;
    d.set_item("time_field", s.time_field.as_deref())?;
    Ok(d)
}

fn stats_from(stats: &Bound<'_, PyAny>) -> PyResult<core_r::AgesStats> {
    let count = |key: &str| -> PyResult<u64> {
        match stats.get_item(key) {
            Ok(v) => Ok(v.extract::<Int<u64>>()?.0),
            Err(_) => Ok(0),
        }
    };
    let time_field = match stats.get_item("time_field") {
        Ok(v) if !v.is_none() => Some(v.extract::<String>()?),
        _ => None,
    };
    Ok(core_r::AgesStats {
        lines: count("lines")?,
        tokens: count("tokens")?,
        recorded: count("recorded")?,
        unreadable: count("unreadable")?,
        no_iat: count("no_iat")?,
        no_timestamp: count("no_timestamp")?,
        time_field,
    })
}

/// The core monitor behind a Python `SkewMonitor` (through its JSON form).
fn core_monitor(monitor: &Bound<'_, SkewMonitor>) -> PyResult<CoreMonitor> {
    let text: String = monitor.call_method0("to_json")?.extract()?;
    Ok(CoreMonitor::from_json(&text).map_err(Error::Monitor)?)
}

/// A Python `SkewMonitor` holding a copy of `m`.
fn py_monitor<'py>(py: Python<'py>, m: &CoreMonitor) -> PyResult<Bound<'py, PyAny>> {
    py.get_type::<SkewMonitor>()
        .call_method1("from_json", (m.to_json(),))
}

/// Reads `ages` input (core `AgesCollector`): finds JWT-shaped strings in each line and
/// records `now − iat` (or, with `time_field`, `line time − iat`). Feed raw bytes as read
/// (`feed_bytes`; lines split on `\n`, UTF-8 decoded with replacement) or lines, then
/// `finish(now)` and `render()`. Thread-safe.
#[pyclass(frozen, module = "tokenclock._native", name = "AgesCollector")]
pub struct AgesCollector(Mutex<core_r::AgesCollector>);

impl AgesCollector {
    fn with<T>(&self, f: impl FnOnce(&mut core_r::AgesCollector) -> T) -> Result<T, Error> {
        let mut g = self.0.lock().map_err(|_| Error::Internal(POISONED))?;
        Ok(f(&mut g))
    }
}

#[pymethods]
impl AgesCollector {
    /// `time_field` is `--time-field` (a 1-based column, a JSON dotted path or a logfmt key);
    /// a bad one raises `InvalidArgument` (render it with `argument_error`).
    #[new]
    #[pyo3(signature = (time_field=None))]
    fn new(time_field: Option<&str>) -> PyResult<Self> {
        guard(|| {
            let c = core_r::AgesCollector::new(time_field).map_err(report_error)?;
            Ok(AgesCollector(Mutex::new(c)))
        })
    }

    /// One line (without its newline), read at `now` (Unix seconds).
    fn feed_line(&self, line: &str, now: Secs) -> PyResult<()> {
        guard(|| {
            let now = UnixMillis(now.ms("now")?);
            Ok(self.with(|c| c.feed_line(line, now))?)
        })
    }

    /// A chunk of raw input read at `now`; complete lines are processed, the rest is kept.
    fn feed_bytes(&self, chunk: &[u8], now: Secs) -> PyResult<()> {
        guard(|| {
            let now = UnixMillis(now.ms("now")?);
            Ok(self.with(|c| c.feed_bytes(chunk, now))?)
        })
    }

    /// End of input at `now`: processes a last line without a newline.
    fn finish(&self, now: Secs) -> PyResult<()> {
        guard(|| {
            let now = UnixMillis(now.ms("now")?);
            Ok(self.with(|c| c.finish(now))?)
        })
    }

    /// A copy of the ages recorded so far.
    #[getter]
    fn monitor<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let m = self.with(|c| c.monitor().clone())?;
            py_monitor(py, &m)
        })
    }

    /// The counts so far: `lines`, `tokens`, `recorded`, `unreadable`, `no_iat`,
    /// `no_timestamp`, `skipped`, `time_field`.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let s = self.with(|c| c.stats().clone())?;
            stats_dict(py, &s)
        })
    }

    /// The `ages` report.
    #[pyo3(signature = (color=false))]
    fn render(&self, color: bool) -> PyResult<Rendered> {
        guard(|| Ok(Rendered::wrap(self.with(|c| c.render(color))?)))
    }

    /// The `ages --prometheus` output.
    fn render_prometheus(&self) -> PyResult<Rendered> {
        guard(|| Ok(Rendered::wrap(self.with(|c| c.render_prometheus())?)))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let s = self.with(|c| c.stats().clone())?;
            Ok(format!(
                "AgesCollector(lines={}, tokens={}, recorded={})",
                s.lines, s.tokens, s.recorded
            ))
        })
    }
}

/// `ages` from a monitor and the counts (`AgesCollector.stats`' keys; missing counts are 0).
#[pyfunction]
#[pyo3(signature = (monitor, stats, color=false))]
pub fn ages(
    monitor: &Bound<'_, SkewMonitor>,
    stats: &Bound<'_, PyAny>,
    color: bool,
) -> PyResult<Rendered> {
    guard(|| {
        let m = core_monitor(monitor)?;
        let s = stats_from(stats)?;
        Ok(Rendered::wrap(core_r::ages(&m, &s, color)))
    })
}

/// `ages --prometheus` from a monitor and the counts.
#[pyfunction]
pub fn ages_prometheus(
    monitor: &Bound<'_, SkewMonitor>,
    stats: &Bound<'_, PyAny>,
) -> PyResult<Rendered> {
    guard(|| {
        let m = core_monitor(monitor)?;
        let s = stats_from(stats)?;
        Ok(Rendered::wrap(core_r::ages_prometheus(&m, &s)))
    })
}

// ----- simulate -------------------------------------------------------------------------------

/// One gauntlet cell for `simulate` (core `sim::Cell`), starting from the defaults; set
/// fields from command-line text with `parse_cell_arg`. Ranges are checked by `simulate`.
#[pyclass(frozen, module = "tokenclock._native", name = "SimCell")]
pub struct SimCell(Mutex<core_sim::Cell>);

impl SimCell {
    fn get_cell(&self) -> Result<core_sim::Cell, Error> {
        self.0
            .lock()
            .map(|g| *g)
            .map_err(|_| Error::Internal(POISONED))
    }
}

#[pymethods]
impl SimCell {
    #[new]
    fn new() -> Self {
        SimCell(Mutex::new(core_sim::Cell::default()))
    }

    /// Client clock minus issuer clock, seconds.
    #[getter]
    fn client_offset(&self) -> PyResult<f64> {
        guard(|| Ok(self.get_cell()?.client_offset_s))
    }

    /// Resource-server clock minus issuer clock, seconds.
    #[getter]
    fn rs_offset(&self) -> PyResult<f64> {
        guard(|| Ok(self.get_cell()?.rs_offset_s))
    }

    /// Token lifetime, seconds.
    #[getter]
    fn ttl(&self) -> PyResult<i64> {
        guard(|| Ok(self.get_cell()?.ttl_s))
    }

    /// Resource-server leeway, seconds.
    #[getter]
    fn rs_leeway(&self) -> PyResult<i64> {
        guard(|| Ok(self.get_cell()?.rs_leeway_s))
    }

    /// Age of the first cached token, seconds (0: no issuer cache).
    #[getter]
    fn cached_age(&self) -> PyResult<i64> {
        guard(|| Ok(self.get_cell()?.cached_age_s))
    }

    /// Client wall-clock step, seconds (0: none).
    #[getter]
    fn step(&self) -> PyResult<i64> {
        guard(|| Ok(self.get_cell()?.step_s))
    }

    /// Simulated duration, hours.
    #[getter]
    fn hours(&self) -> PyResult<f64> {
        guard(|| Ok(self.get_cell()?.hours))
    }

    /// Mean time between user requests, seconds.
    #[getter]
    fn request_interval(&self) -> PyResult<f64> {
        guard(|| Ok(self.get_cell()?.request_interval_s))
    }

    /// The seed.
    #[getter]
    fn seed(&self) -> PyResult<u64> {
        guard(|| Ok(self.get_cell()?.seed))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let c = self.get_cell()?;
            Ok(format!(
                "SimCell(client_offset={:?}, rs_offset={:?}, ttl={}, rs_leeway={}, cached_age={}, \
                 step={}, hours={:?}, request_interval={:?}, seed={})",
                c.client_offset_s,
                c.rs_offset_s,
                c.ttl_s,
                c.rs_leeway_s,
                c.cached_age_s,
                c.step_s,
                c.hours,
                c.request_interval_s,
                c.seed
            ))
        })
    }
}

/// Sets one `simulate` flag's field of `cell` from its command-line text (`--client-offset`,
/// `--rs-offset`, `--ttl`, `--leeway`, `--cached-age`, `--step`, `--hours`, `--seed`);
/// raises `InvalidArgument`.
#[pyfunction]
pub fn parse_cell_arg(cell: &Bound<'_, SimCell>, flag: &str, value: &str) -> PyResult<()> {
    guard(|| {
        let mut g = cell.get().0.lock().map_err(|_| Error::Internal(POISONED))?;
        core_r::parse_cell_arg(&mut g, flag, value).map_err(report_error)
    })
}

/// `simulate`: runs the cell and shows every strategy side by side (with `timeline`,
/// tokenclock's event log). Exit 0, or 2 for an out-of-range cell.
#[pyfunction]
#[pyo3(signature = (cell, timeline=false, color=false))]
pub fn simulate(
    py: Python<'_>,
    cell: &Bound<'_, SimCell>,
    timeline: bool,
    color: bool,
) -> PyResult<Rendered> {
    guard(|| {
        let c = cell.get().get_cell()?;
        Ok(Rendered::wrap(
            py.detach(|| core_r::simulate(&c, timeline, color)),
        ))
    })
}

// ----- the command line as a machine (core `cli::CliRun`) ---------------------------------------

/// What the `tokenclock` executor must do next (core `CliAction`): `kind` is `"read"` (`path`,
/// `None` for standard input; `max_bytes`), `"http"` (`id`, `url`, `method`, `headers`,
/// `timeout`), `"sntp"` (`id`, `host`, `port`, `timeout`), `"wait"` (`wait`: seconds, or
/// `None` until an exchange completes), `"write"` (`stream`, `text`) or `"exit"` (`code`).
#[pyclass(frozen, module = "tokenclock._native", name = "_CliAction")]
pub struct CliAction {
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    path: Option<String>,
    #[pyo3(get)]
    max_bytes: Option<usize>,
    #[pyo3(get)]
    id: Option<usize>,
    #[pyo3(get)]
    url: Option<String>,
    #[pyo3(get)]
    method: Option<&'static str>,
    #[pyo3(get)]
    headers: Vec<(&'static str, String)>,
    #[pyo3(get)]
    host: Option<String>,
    #[pyo3(get)]
    port: Option<u16>,
    #[pyo3(get)]
    timeout: Option<f64>,
    #[pyo3(get)]
    wait: Option<f64>,
    #[pyo3(get)]
    stream: Option<&'static str>,
    #[pyo3(get)]
    text: Option<String>,
    #[pyo3(get)]
    code: Option<i32>,
}

impl CliAction {
    fn empty(kind: &'static str) -> CliAction {
        CliAction {
            kind,
            path: None,
            max_bytes: None,
            id: None,
            url: None,
            method: None,
            headers: Vec::new(),
            host: None,
            port: None,
            timeout: None,
            wait: None,
            stream: None,
            text: None,
            code: None,
        }
    }

    fn wrap(a: core_r::CliAction) -> CliAction {
        use core_r::CliAction as A;
        let secs = |ms: i64| seconds(ms);
        match a {
            A::Read { input, max_bytes } => CliAction {
                path: match input {
                    core_r::Input::File(p) => Some(p),
                    _ => None,
                },
                max_bytes: Some(max_bytes),
                ..CliAction::empty("read")
            },
            A::Http {
                id,
                url,
                method,
                headers,
                timeout_ms,
            } => CliAction {
                id: Some(id),
                url: Some(url),
                method: Some(method.as_str()),
                headers,
                timeout: Some(secs(timeout_ms)),
                ..CliAction::empty("http")
            },
            A::Sntp {
                id,
                host,
                port,
                timeout_ms,
            } => CliAction {
                id: Some(id),
                host: Some(host),
                port: Some(port),
                timeout: Some(secs(timeout_ms)),
                ..CliAction::empty("sntp")
            },
            A::Wait { wait_ms } => CliAction {
                wait: wait_ms.map(secs),
                ..CliAction::empty("wait")
            },
            A::Write { stream, text } => CliAction {
                stream: Some(match stream {
                    core_r::Stream::Stdout => "stdout",
                    core_r::Stream::Stderr => "stderr",
                }),
                text: Some(text),
                ..CliAction::empty("write")
            },
            A::Exit { code } => CliAction {
                code: Some(code),
                ..CliAction::empty("exit")
            },
            _ => CliAction {
                code: Some(core_r::EXIT_USAGE),
                ..CliAction::empty("exit")
            },
        }
    }
}

#[pymethods]
impl CliAction {
    fn __repr__(&self) -> String {
        format!("_CliAction(kind='{}')", self.kind)
    }
}

/// One `tokenclock` run (core `CliRun`): `_CliRun(argv, env, stdout_is_terminal)`, then loop
/// `poll(Reading.now())` and answer each action. Thread-safe (exchanges may be answered from
/// worker threads).
#[pyclass(frozen, module = "tokenclock._native", name = "_CliRun")]
pub struct CliRun(Mutex<core_r::CliRun>);

impl CliRun {
    fn with<T>(&self, f: impl FnOnce(&mut core_r::CliRun) -> T) -> Result<T, Error> {
        let mut g = self.0.lock().map_err(|_| Error::Internal(POISONED))?;
        Ok(f(&mut g))
    }
}

#[pymethods]
impl CliRun {
    #[new]
    fn new(argv: Vec<String>, env: &Bound<'_, PyAny>, stdout_is_terminal: bool) -> PyResult<Self> {
        let mut vars = Vec::new();
        for name in core_r::ENV_VARS {
            let value = env.call_method1("get", (name,))?;
            if let Ok(s) = value.cast::<pyo3::types::PyString>() {
                vars.push((name.to_owned(), s.to_string_lossy().into_owned()));
            }
        }
        guard(|| {
            Ok(CliRun(Mutex::new(core_r::CliRun::new(
                &argv,
                &vars,
                stdout_is_terminal,
            ))))
        })
    }

    /// The command, once known.
    #[getter]
    fn command(&self) -> PyResult<Option<&'static str>> {
        guard(|| Ok(self.with(|r| r.command())?))
    }

    /// What to do next; `now` is both clocks read just now.
    fn poll(&self, py: Python<'_>, now: Reading) -> PyResult<CliAction> {
        let action = py.detach(|| self.with(|r| r.poll(now.0)));
        guard(|| Ok(CliAction::wrap(action?)))
    }

    /// The bytes of a `read` (empty: end of input).
    fn on_read(&self, data: &[u8]) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_read(data))?))
    }

    /// A `read` failed: `not_found`, `permission_denied`, `is_a_directory`, `too_large` or
    /// `io_error` (anything else is `io_error`).
    fn on_read_error(&self, problem: &str) -> PyResult<()> {
        let problem = core_r::InputProblem::from_code(problem).unwrap_or(core_r::InputProblem::Io);
        guard(|| Ok(self.with(|r| r.on_read_error(problem))?))
    }

    /// An `http` exchange's response.
    fn on_http_response(
        &self,
        id: usize,
        status: u16,
        date: Option<&str>,
        age: Option<&str>,
        sent: Reading,
        received: Reading,
    ) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_http_response(id, status, date, age, sent.0, received.0))?))
    }

    /// The 48 bytes to send for an `sntp` exchange now (`None`: no such exchange).
    fn sntp_packet<'py>(
        &self,
        py: Python<'py>,
        id: usize,
        now: Reading,
        entropy: Int<u32>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        guard(|| {
            let packet = self.with(|r| r.sntp_packet(id, now.0, entropy.0))?;
            Ok(packet.map(|p| PyBytes::new(py, &p)))
        })
    }

    /// An `sntp` exchange's reply and the reading on receipt.
    fn on_sntp_reply(&self, id: usize, reply: &[u8], received: Reading) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_sntp_reply(id, reply, received.0))?))
    }

    /// An exchange failed: a transport code.
    fn on_transport_error(&self, id: usize, code: &str) -> PyResult<()> {
        guard(|| Ok(self.with(|r| r.on_transport_error(id, code))?))
    }

    /// The executor failed unexpectedly: its error's `code` attribute (when a string) and
    /// class name; the run ends with `internal error (…)`.
    fn on_internal_error(&self, code: Option<&str>, class_name: &str) -> PyResult<()> {
        let what = core_r::describe_failure(code, class_name);
        guard(|| Ok(self.with(|r| r.on_internal_error(&what))?))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!(
                "_CliRun(command={:?})",
                self.with(|r| r.command())?
            ))
        })
    }
}

/// Adds this module's classes and functions to the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Rendered>()?;
    m.add_class::<ServerClock>()?;
    m.add_class::<KeyInput>()?;
    m.add_class::<SkewOrigin>()?;
    m.add_class::<ProbeAction>()?;
    m.add_class::<SkewProbe>()?;
    m.add_class::<AgesCollector>()?;
    m.add_class::<SimCell>()?;
    m.add_class::<CliAction>()?;
    m.add_class::<CliRun>()?;
    m.add_function(wrap_pyfunction!(usage_error, m)?)?;
    m.add_function(wrap_pyfunction!(argument_error, m)?)?;
    m.add_function(wrap_pyfunction!(input_error, m)?)?;
    m.add_function(wrap_pyfunction!(help, m)?)?;
    m.add_function(wrap_pyfunction!(parse_seconds_arg, m)?)?;
    m.add_function(wrap_pyfunction!(parse_count_arg, m)?)?;
    m.add_function(wrap_pyfunction!(parse_host_port, m)?)?;
    m.add_function(wrap_pyfunction!(parse_time_field, m)?)?;
    m.add_function(wrap_pyfunction!(parse_timestamp, m)?)?;
    m.add_function(wrap_pyfunction!(find_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(transport_error_message, m)?)?;
    m.add_function(wrap_pyfunction!(iso8601_utc, m)?)?;
    m.add_function(wrap_pyfunction!(human_duration, m)?)?;
    m.add_function(wrap_pyfunction!(human_signed, m)?)?;
    m.add_function(wrap_pyfunction!(human_relative, m)?)?;
    m.add_function(wrap_pyfunction!(signed_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(skew, m)?)?;
    m.add_function(wrap_pyfunction!(ages, m)?)?;
    m.add_function(wrap_pyfunction!(ages_prometheus, m)?)?;
    m.add_function(wrap_pyfunction!(parse_cell_arg, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    Ok(())
}

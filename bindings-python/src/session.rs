//! `Session` (core `session::Session`) and its outputs `Authorization`, `Ticket`, `Verdict`.
//!
//! The core session sits in a `Mutex` inside a frozen pyclass, so one `Session` serves many
//! threads. The lock is never held across a Python call: the clock callable runs before it is
//! taken and Python objects are built after it is released. Uncontended calls take it
//! without releasing the GIL (cheaper); a contended call releases the GIL while it waits.

use std::sync::{Mutex, TryLockError};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokenclock::oauth::Secret;
use tokenclock::session as core_s;

use crate::convert::{self, seconds, Clock, Int, Secs};
use crate::errors::{self, guard, Error, Exc, POISONED};
use crate::lifetime::{Lifetime, PolicyArgs, TokenState};
use crate::oauth::{request_repr, Grant};
use crate::skew::Estimate;
use crate::time::Reading;

/// The single outstanding refresh: send the request (`method`, `url`, `headers`, `body`),
/// then call `Session.complete_refresh` or `Session.fail_refresh` with this ticket (or its
/// `id`). `repr` shows no credential.
#[pyclass(frozen, module = "tokenclock._native", name = "Ticket")]
pub struct Ticket(pub core_s::Ticket);

#[pymethods]
impl Ticket {
    /// The ticket id (an opaque integer).
    #[getter]
    fn id(&self) -> u64 {
        self.0.id.0
    }

    /// Why the refresh happens: `initial`, `stale`, `expired`, `rejected`, `fallback`,
    /// `retry`.
    #[getter]
    fn reason(&self) -> &'static str {
        self.0.reason.as_str()
    }

    /// Always `"POST"`.
    #[getter]
    fn method(&self) -> &'static str {
        self.0.request.method
    }

    /// The token endpoint.
    #[getter]
    fn url(&self) -> &str {
        &self.0.request.url
    }

    /// Header `(name, value)` pairs, in order (may carry client credentials).
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.0.request.headers.clone()
    }

    /// Form `(name, value)` pairs, in order (credentials included).
    #[getter]
    fn form(&self) -> Vec<(String, String)> {
        self.0
            .request
            .form
            .iter()
            .map(|(n, v)| (n.clone(), v.expose().to_owned()))
            .collect()
    }

    /// The form-encoded body (contains credentials: don't log it).
    #[getter]
    fn body(&self) -> String {
        self.0.request.body()
    }

    fn __repr__(&self) -> String {
        request_repr(
            "Ticket",
            &self.0.request,
            Some(format!(
                "id={}, reason='{}'",
                self.0.id.0,
                self.0.reason.as_str()
            )),
        )
    }
}

/// The answer to `Session.authorize`: `kind` says what the caller does next.
///
/// * `ready`: send the request with `header` (`Authorization` value); report the response
///   with `token_id`;
/// * `ready_and_refresh`: the same, and this caller also performs `ticket`;
/// * `refresh`: perform `ticket`, then call `authorize` again;
/// * `wait`: call `authorize` again after `wait` seconds (at `until`), or as soon as the
///   in-flight refresh closes; `wait_reason` says why;
/// * `failed`: no token can be had; `error` is the exception to raise.
///
/// `repr` shows the kind and ids, never the header.
#[pyclass(frozen, module = "tokenclock._native", name = "Authorization")]
pub struct Authorization {
    kind: &'static str,
    header: Option<Secret>,
    token_id: Option<u64>,
    ticket: Option<Py<Ticket>>,
    until: Option<Reading>,
    wait_ms: Option<i64>,
    wait_reason: Option<&'static str>,
    error: Option<Py<PyAny>>,
}

impl Authorization {
    fn from_core(py: Python<'_>, a: core_s::Authorization) -> PyResult<Self> {
        let p = a.into_parts();
        Ok(Authorization {
            kind: p.kind,
            header: p.header,
            token_id: p.token_id.map(|t| t.0),
            ticket: p.ticket.map(|t| Py::new(py, Ticket(t))).transpose()?,
            until: p.until.map(Reading),
            wait_ms: p.wait_ms,
            wait_reason: p.wait_reason.map(|r| r.as_str()),
            error: p
                .error
                .map(|e| errors::exception(py, &Error::Session(e)).map(Bound::unbind))
                .transpose()?,
        })
    }
}

#[pymethods]
impl Authorization {
    /// `ready`, `ready_and_refresh`, `refresh`, `wait` or `failed`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The `Authorization` header value (`Bearer ...`) for `ready` / `ready_and_refresh`.
    #[getter]
    fn header(&self) -> Option<&str> {
        self.header.as_ref().map(Secret::expose)
    }

    /// The token used (report the response with it).
    #[getter]
    fn token_id(&self) -> Option<u64> {
        self.token_id
    }

    /// The refresh this caller performs (`ready_and_refresh`, `refresh`).
    #[getter]
    fn ticket(&self, py: Python<'_>) -> Option<Py<Ticket>> {
        self.ticket.as_ref().map(|t| t.clone_ref(py))
    }

    /// For `wait`: when to come back at the latest.
    #[getter]
    fn until(&self) -> Option<Reading> {
        self.until
    }

    /// For `wait`: seconds from the reading passed to `authorize` until `until`.
    #[getter]
    fn wait(&self) -> Option<f64> {
        self.wait_ms.map(seconds)
    }

    /// For `wait`: `refresh_in_flight`, `not_yet_valid` or `backoff`.
    #[getter]
    fn wait_reason(&self) -> Option<&'static str> {
        self.wait_reason
    }

    /// For `failed`: the exception to raise (a `TokenClockError` subclass).
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Some(t) = &self.ticket {
            visit.call(t)?;
        }
        if let Some(e) = &self.error {
            visit.call(e)?;
        }
        Ok(())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let mut parts = vec![format!("kind='{}'", self.kind)];
        if let Some(id) = self.token_id {
            parts.push(format!("token_id={id}"));
        }
        if let Some(t) = &self.ticket {
            let t = t.bind(py).get();
            parts.push(format!(
                "ticket={}, reason='{}'",
                t.0.id.0,
                t.0.reason.as_str()
            ));
        }
        if let (Some(w), Some(r)) = (self.wait_ms, self.wait_reason) {
            parts.push(format!("wait={:.3}, wait_reason='{r}'", seconds(w)));
        }
        if let Some(e) = &self.error {
            let code = e
                .bind(py)
                .getattr("code")
                .and_then(|c| c.extract::<String>())
                .unwrap_or_default();
            parts.push(format!("error='{code}'"));
        }
        format!("Authorization({})", parts.join(", "))
    }
}

/// The answer to `Session.on_response`: `accept` (hand the response over), `retry` (wait
/// `wait` seconds, authorize again, resend once), or `fail` (`diagnosis` `clock_skew` with
/// `evidence`, or `unauthorized`).
#[pyclass(frozen, module = "tokenclock._native", name = "Verdict")]
pub struct Verdict(pub core_s::Verdict);

fn evidence_dict<'py>(py: Python<'py>, e: &core_s::SkewEvidence) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("finding", e.finding.as_str())?;
    d.set_item("resource", Estimate(e.resource))?;
    d.set_item("issuer", Estimate(e.issuer))?;
    d.set_item(
        "resource_now_low",
        convert::opt_seconds(e.resource_now_ms.0),
    )?;
    d.set_item(
        "resource_now_high",
        convert::opt_seconds(e.resource_now_ms.1),
    )?;
    d.set_item("exp", convert::opt_seconds(e.exp_ms))?;
    d.set_item("nbf", convert::opt_seconds(e.nbf_ms))?;
    d.set_item("iat", convert::opt_seconds(e.iat_ms))?;
    Ok(d)
}

/// The `ClockSkewError` (message from core, `.evidence`) of a `clock_skew` diagnosis.
fn clock_skew_error<'py>(
    py: Python<'py>,
    diagnosis: &core_s::Diagnosis,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let core_s::Diagnosis::ClockSkew(e) = diagnosis else {
        return Ok(None);
    };
    let attrs = vec![("evidence", evidence_dict(py, e)?.into_any())];
    Ok(Some(errors::make(
        py,
        Exc::ClockSkewError,
        diagnosis.as_str(),
        &diagnosis.to_string(),
        attrs,
    )?))
}

#[pymethods]
impl Verdict {
    /// `accept`, `retry` or `fail`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.as_str()
    }

    /// For `retry`: seconds to wait before re-authorizing (0: at once).
    #[getter]
    fn wait(&self) -> Option<f64> {
        match self.0 {
            core_s::Verdict::Retry { wait_ms } => Some(seconds(wait_ms)),
            _ => None,
        }
    }

    /// For `fail`: `clock_skew` or `unauthorized`.
    #[getter]
    fn diagnosis(&self) -> Option<&'static str> {
        match &self.0 {
            core_s::Verdict::Fail { diagnosis } => Some(diagnosis.as_str()),
            _ => None,
        }
    }

    /// For a `clock_skew` diagnosis: `finding` (`not_yet_valid`, `issued_in_future`,
    /// `expired`), the `resource` and `issuer` estimates, the resource server's clock bounds
    /// `resource_now_low`/`resource_now_high`, and the token's `exp`/`nbf`/`iat` (seconds).
    #[getter]
    fn evidence<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match &self.0 {
            core_s::Verdict::Fail {
                diagnosis: core_s::Diagnosis::ClockSkew(e),
            } => Ok(Some(evidence_dict(py, e)?)),
            _ => Ok(None),
        }
    }

    /// For a `clock_skew` diagnosis: a `ClockSkewError` (with `.evidence`) to raise.
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.0 {
            core_s::Verdict::Fail { diagnosis } => clock_skew_error(py, diagnosis),
            _ => Ok(None),
        }
    }

    fn __repr__(&self) -> String {
        match &self.0 {
            core_s::Verdict::Retry { wait_ms } => {
                format!("Verdict(kind='retry', wait={:.3})", seconds(*wait_ms))
            }
            core_s::Verdict::Fail { diagnosis } => {
                format!("Verdict(kind='fail', diagnosis='{}')", diagnosis.as_str())
            }
            _ => format!("Verdict(kind='{}')", self.kind()),
        }
    }
}

/// The answer to `Session.after_response`: what the adapter does with an API response.
/// `kind`: `return` (hand it over), `return_refusal` (hand the 401 over: no retry left or
/// none would help), `retry` (wait `wait` seconds, authorize again, send once more with
/// `attempt + 1`), `raise` (raise `error`, a `ClockSkewError` with `.evidence`).
#[pyclass(frozen, module = "tokenclock._native", name = "AfterResponse")]
pub struct AfterResponse(pub core_s::AfterResponse);

#[pymethods]
impl AfterResponse {
    /// `return`, `return_refusal`, `retry` or `raise`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.as_str()
    }

    /// For `retry`: seconds to wait before re-authorizing (0: at once).
    #[getter]
    fn wait(&self) -> Option<f64> {
        match self.0 {
            core_s::AfterResponse::Retry { wait_ms } => Some(seconds(wait_ms)),
            _ => None,
        }
    }

    /// For `raise`: `clock_skew`.
    #[getter]
    fn diagnosis(&self) -> Option<&'static str> {
        match &self.0 {
            core_s::AfterResponse::Raise { diagnosis } => Some(diagnosis.as_str()),
            _ => None,
        }
    }

    /// For `raise`: the `ClockSkewError` to raise (message from core, `.evidence`).
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.0 {
            core_s::AfterResponse::Raise { diagnosis } => clock_skew_error(py, diagnosis),
            _ => Ok(None),
        }
    }

    fn __repr__(&self) -> String {
        match &self.0 {
            core_s::AfterResponse::Retry { wait_ms } => {
                format!("AfterResponse(kind='retry', wait={:.3})", seconds(*wait_ms))
            }
            other => format!("AfterResponse(kind='{}')", other.as_str()),
        }
    }
}

fn transport_failure(name: &str) -> Result<core_s::TransportFailure, Error> {
    name.parse().map_err(Error::Session)
}

/// A ticket argument: a `Ticket` or its integer id.
pub(crate) fn ticket_id(t: &Bound<'_, PyAny>) -> PyResult<core_s::TicketId> {
    if let Ok(t) = t.cast::<Ticket>() {
        return Ok(t.get().0.id);
    }
    let Int(id): Int<u64> = t.extract()?;
    Ok(core_s::TicketId(id))
}

fn event_dict<'py>(py: Python<'py>, e: &core_s::SessionEvent) -> PyResult<Bound<'py, PyDict>> {
    use core_s::SessionEvent as E;
    let d = PyDict::new(py);
    let at = match e {
        E::TicketIssued { at, ticket, reason } => {
            d.set_item("ticket", ticket.0)?;
            d.set_item("reason", reason.as_str())?;
            at
        }
        E::TokenReceived {
            at,
            token,
            lifetime_ms,
            usable_ms,
        } => {
            d.set_item("token", token.0)?;
            d.set_item("lifetime", seconds(*lifetime_ms))?;
            d.set_item("usable", seconds(*usable_ms))?;
            at
        }
        E::RefreshFailed {
            at,
            code,
            backoff_ms,
        } => {
            d.set_item("code", *code)?;
            d.set_item("backoff", seconds(*backoff_ms))?;
            at
        }
        E::TokenReused { at, token } => {
            d.set_item("token", token.0)?;
            at
        }
        E::TicketAbandoned { at, ticket } => {
            d.set_item("ticket", ticket.0)?;
            at
        }
        E::Rejected { at, token, verdict } => {
            d.set_item("token", token.0)?;
            d.set_item("verdict", *verdict)?;
            at
        }
        E::ClockDiscontinuity { at, wall_excess_ms } => {
            d.set_item("wall_excess", seconds(*wall_excess_ms))?;
            at
        }
        E::TokenAdopted { at, token } | E::ResourceEstimateReset { at, token } => {
            d.set_item("token", token.0)?;
            at
        }
        _ => {
            d.set_item("kind", "other")?;
            return Ok(d);
        }
    };
    d.set_item("kind", e.name())?;
    d.set_item("at", Reading(*at))?;
    Ok(d)
}

/// The hot path's state, read without the session: the ready window (written only while the
/// session is held) and the driver's credential object for one token id (`_set_credential`),
/// which `_credential_now` answers while the window answers that id.
#[derive(Default)]
struct Window {
    ready: Option<core_s::ReadyWindow>,
    credential: Option<(u64, Py<PyAny>)>,
}

/// The refresh state machine for one credential and audience (core `Session`). Thread-safe:
/// share one per credential.
///
/// Call `authorize()` before every API request, report every response with
/// `on_response(...)`, and close each ticket with `complete_refresh(...)` or
/// `fail_refresh(...)`. Every method that needs "now" takes an optional `Reading`; without one
/// it reads the session's clock (`clock=`, default the system clocks).
#[pyclass(frozen, module = "tokenclock._native", name = "Session")]
pub struct Session {
    inner: Mutex<core_s::Session>,
    /// The hot path's answer (core `ReadyWindow`): written only while `inner` is held (set by
    /// `authorize_token`, dropped by every other call), read without `inner`.
    window: Mutex<Window>,
    pub(crate) clock: Clock,
    token_url: String,
    grant_type: &'static str,
    client_id: Option<String>,
    policy: tokenclock::lifetime::LifetimePolicy,
}

impl Session {
    /// Runs `f` on the core session: without releasing the GIL when the lock is free,
    /// releasing it while waiting otherwise. `f` must not touch Python.
    pub(crate) fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut core_s::Session) -> T + Send,
    ) -> PyResult<T> {
        let run = |g: &mut core_s::Session| {
            self.resume_window(g)?;
            Ok(f(g))
        };
        match self.inner.try_lock() {
            Ok(mut g) => Ok(run(&mut g)?),
            Err(TryLockError::Poisoned(_)) => Err(Error::Internal(POISONED).into()),
            Err(TryLockError::WouldBlock) => py
                .detach(|| match self.inner.lock() {
                    Ok(mut g) => run(&mut g),
                    Err(_) => Err(Error::Internal(POISONED)),
                })
                .map_err(PyErr::from),
        }
    }

    /// Replaces the ready window. Called only with `inner` held, so a window never outlives a
    /// change of the session.
    fn set_window(&self, w: Option<core_s::ReadyWindow>) -> Result<(), Error> {
        self.window
            .lock()
            .map_err(|_| Error::Internal(POISONED))?
            .ready = w;
        Ok(())
    }

    /// Every call enters the session through here (`inner` held): the ready window is taken
    /// back, and the session brought to where the answers it gave would have left it.
    fn resume_window(&self, g: &mut core_s::Session) -> Result<(), Error> {
        let taken = self
            .window
            .lock()
            .map_err(|_| Error::Internal(POISONED))?
            .ready
            .take();
        if let Some(w) = taken {
            g.resume(&w);
        }
        Ok(())
    }

    /// The token id the ready window answers for `now`, without entering the session, and
    /// (`cached`) the driver's credential object when it was set for that id.
    fn window_answer(
        &self,
        py: Python<'_>,
        now: tokenclock::time::Reading,
        cached: bool,
    ) -> Option<(u64, Option<Py<PyAny>>)> {
        // Never waits: a busy window (another thread entering the session) means the full path.
        let mut w = self.window.try_lock().ok()?;
        let id = w.ready.as_mut()?.answer(now)?.0;
        let credential = match &w.credential {
            Some((cid, obj)) if cached && *cid == id => Some(obj.clone_ref(py)),
            _ => None,
        };
        Some((id, credential))
    }

    /// `authorize_token`: the ready window's answer when it covers `now`, else the session's
    /// (which sets the next window while the session is held).
    fn authorize_token_at(
        &self,
        py: Python<'_>,
        now: Option<Reading>,
        cached: bool,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            if let Some((id, credential)) = self.window_answer(py, now, cached) {
                if let Some(c) = credential {
                    return Ok(c);
                }
                return Ok(id.into_pyobject(py)?.into_any().unbind());
            }
            // `with` dropped the window; set the new one while the session is still held.
            let a = self.with(py, |s| {
                let a = s.authorize(now);
                self.set_window(s.ready_window(now)).map(|()| a)
            })??;
            match a {
                core_s::Authorization::Ready { token_id, .. } => {
                    Ok(token_id.0.into_pyobject(py)?.into_any().unbind())
                }
                a => Ok(Py::new(py, Authorization::from_core(py, a)?)?.into_any()),
            }
        })
    }

    /// Like `with`, but always releases the GIL (for the heavier inputs: parsing a token
    /// response, peeking the token).
    pub(crate) fn with_detached<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut core_s::Session) -> T + Send,
    ) -> PyResult<T> {
        py.detach(|| match self.inner.lock() {
            Ok(mut g) => {
                self.resume_window(&mut g)?;
                Ok(f(&mut g))
            }
            Err(_) => Err(Error::Internal(POISONED)),
        })
        .map_err(PyErr::from)
    }
}

#[pymethods]
impl Session {
    /// A session with no token yet for `grant`. Expiry policy: `margin` (fixed, seconds) or
    /// `margin_cap` (cap of `min(cap, lifetime/10)`, default 10), `refresh_window`
    /// (fractions, default (0.75, 0.85)) or `refresh_before` (seconds before hard expiry),
    /// `assumed_lifetime` (default 300), `max_wait` (default 2), `not_before` (`nbf_and_iat`
    /// default, or `nbf`). Backoff: `backoff_base` (1), `backoff_cap` (60),
    /// `max_retry_after` (600), `config_retry` (300: the wait after a configuration error such
    /// as `invalid_client`, 1 s to 1 day). Skew: `drift_ppm` (200), `max_samples` (16).
    /// `ticket_timeout` (60), `max_401_wait` (10). Adapters: `token_timeout` (10: the bound on
    /// one token request, connect to last byte), `refreshes_per_call` (1: token requests one API
    /// call performs at most, 1 to 5). `partition`: whose token this is, for a shared
    /// store (a user or tenant id; required to share authorization-code and refresh-token
    /// sessions). `clock`: a callable returning a `Reading`.
    /// `seed`: a deterministic RNG (tests only; default the OS's).
    #[new]
    #[pyo3(signature = (grant, *, margin=None, margin_cap=None, refresh_window=None, refresh_before=None,
        assumed_lifetime=None, max_wait=None, not_before=None, backoff_base=None, backoff_cap=None,
        max_retry_after=None, config_retry=None, drift_ppm=None, max_samples=None, ticket_timeout=None,
        max_401_wait=None, token_timeout=None, refreshes_per_call=None, partition=None, clock=None,
        seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        grant: &Bound<'_, Grant>,
        margin: Option<Secs>,
        margin_cap: Option<Secs>,
        refresh_window: Option<(Secs, Secs)>,
        refresh_before: Option<Secs>,
        assumed_lifetime: Option<Secs>,
        max_wait: Option<Secs>,
        not_before: Option<String>,
        backoff_base: Option<Secs>,
        backoff_cap: Option<Secs>,
        max_retry_after: Option<Secs>,
        config_retry: Option<Secs>,
        drift_ppm: Option<Int<u32>>,
        max_samples: Option<Int<usize>>,
        ticket_timeout: Option<Secs>,
        max_401_wait: Option<Secs>,
        token_timeout: Option<Secs>,
        refreshes_per_call: Option<Int<u32>>,
        partition: Option<String>,
        clock: Option<&Bound<'_, PyAny>>,
        seed: Option<Int<u64>>,
    ) -> PyResult<Self> {
        guard(|| {
            let g = grant.get();
            let mut config =
                core_s::SessionConfig::new(g.token_url.clone(), g.auth.clone(), g.grant.clone());
            config.policy = PolicyArgs {
                margin,
                margin_cap,
                refresh_window,
                refresh_before,
                assumed_lifetime,
                max_wait,
                not_before,
            }
            .build()?;
            if let Some(v) = backoff_base {
                config.backoff.base_ms = v.ms("backoff_base")?;
            }
            if let Some(v) = backoff_cap {
                config.backoff.cap_ms = v.ms("backoff_cap")?;
            }
            if let Some(v) = max_retry_after {
                config.backoff.max_retry_after_ms = v.ms("max_retry_after")?;
            }
            if let Some(v) = config_retry {
                config.backoff.config_retry_ms = v.ms("config_retry")?;
            }
            if let Some(Int(v)) = drift_ppm {
                config.skew.drift_ppm = v;
            }
            if let Some(Int(v)) = max_samples {
                config.skew.max_samples = v;
            }
            if let Some(v) = ticket_timeout {
                config.ticket_timeout_ms = v.ms("ticket_timeout")?;
            }
            if let Some(v) = max_401_wait {
                config.max_401_wait_ms = v.ms("max_401_wait")?;
            }
            if let Some(v) = token_timeout {
                config.token_timeout_ms = v.ms("token_timeout")?;
            }
            if let Some(Int(v)) = refreshes_per_call {
                config.refreshes_per_call = v;
            }
            config.partition = partition;
            config.allow_insecure_http = g.allow_insecure_http;
            let policy = config.policy;
            let inner = core_s::Session::new(config, convert::rng(seed)).map_err(Error::Session)?;
            Ok(Session {
                inner: Mutex::new(inner),
                window: Mutex::new(Window::default()),
                clock: Clock::from_arg(clock)?,
                token_url: g.token_url.clone(),
                grant_type: g.grant.grant_type(),
                client_id: g.auth.client_id().map(str::to_owned),
                policy,
            })
        })
    }

    /// What the caller of an API request does now (see `Authorization`).
    #[pyo3(signature = (now=None))]
    fn authorize(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Authorization> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            let a = self.with(py, |s| s.authorize(now))?;
            Authorization::from_core(py, a)
        })
    }

    /// The hot path of `authorize` for per-request use: the same decision, but a `ready`
    /// answer is just the token id (an `int`; get its header once with `token_header` and
    /// cache it). Any other answer is the full `Authorization`.
    #[pyo3(signature = (now=None))]
    fn authorize_token(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Py<PyAny>> {
        self.authorize_token_at(py, now, false)
    }

    /// `authorize_token()` at the session's clock: the same answer, without argument parsing
    /// (what adapters call on every request).
    fn authorize_token_now(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.authorize_token_at(py, None, false)
    }

    /// `authorize_token_now()`, except that a "ready" answer for the token id given to
    /// `_set_credential` is that credential object itself (the adapters' per-request path:
    /// one native call, no Python-side lookup).
    fn _credential_now(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.authorize_token_at(py, None, true)
    }

    /// The object `_credential_now` answers while the ready window answers `token_id`.
    fn _set_credential(&self, token_id: u64, credential: Py<PyAny>) -> PyResult<()> {
        guard(|| {
            self.window
                .lock()
                .map_err(|_| Error::Internal(POISONED))?
                .credential = Some((token_id, credential));
            Ok(())
        })
    }

    /// The `Authorization` header value of a token the session still holds (the current one,
    /// or the previous one while it is served); `None` for any other id.
    fn token_header(&self, py: Python<'_>, token_id: Int<u64>) -> PyResult<Option<String>> {
        guard(|| {
            let id = core_s::TokenId(token_id.0);
            self.with(py, |s| s.header_of(id).map(|h| h.expose().to_owned()))
        })
    }

    /// Closes `ticket` with the token endpoint's answer (`status`, `headers`, raw `body`);
    /// `sent`/`received` bracket the token request (`received=None`: now). Returns the new
    /// token's id; raises a `RefreshError` subclass (or `StaleTicket`) otherwise.
    #[pyo3(signature = (ticket, status, headers, body, sent, received=None))]
    #[allow(clippy::too_many_arguments)]
    fn complete_refresh(
        &self,
        py: Python<'_>,
        ticket: &Bound<'_, PyAny>,
        status: Int<u16>,
        headers: Option<&Bound<'_, PyAny>>,
        body: &Bound<'_, PyAny>,
        sent: Reading,
        received: Option<Reading>,
    ) -> PyResult<u64> {
        guard(|| {
            let ticket = ticket_id(ticket)?;
            let headers = convert::headers(headers)?;
            let body = convert::body(body)?;
            let received = self.clock.reading(py, received)?;
            let r = self.with_detached(py, move |s| {
                s.complete_refresh(ticket, status.0, &headers, &body, sent.0, received)
            })?;
            Ok(r.map_err(Error::Session)?.0)
        })
    }

    /// Feeds the token endpoint's `Date` header from a request that was not a token request
    /// (a `HEAD` probe before adopting a shared token; `FleetAction` `probe_issuer`).
    /// `sent`/`received` bracket that request (`received=None`: now).
    #[pyo3(signature = (date, sent, received=None))]
    fn add_issuer_date(
        &self,
        py: Python<'_>,
        date: &str,
        sent: Reading,
        received: Option<Reading>,
    ) -> PyResult<()> {
        guard(|| {
            let received = self.clock.reading(py, received)?;
            let r = self.with(py, |s| s.add_issuer_date(date, sent.0, received))?;
            Ok(r.map_err(Error::Session)?)
        })
    }

    /// Closes `ticket` after a transport failure (`connect`, `timeout`, or `aborted`: no
    /// backoff). Returns the error callers will see (not raised); raises `StaleTicket` when
    /// the ticket is not the outstanding one.
    #[pyo3(signature = (ticket, failure, now=None))]
    fn fail_refresh<'py>(
        &self,
        py: Python<'py>,
        ticket: &Bound<'py, PyAny>,
        failure: &str,
        now: Option<Reading>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let ticket = ticket_id(ticket)?;
            let failure = transport_failure(failure)?;
            let now = self.clock.reading(py, now)?;
            let r = self.with(py, |s| s.fail_refresh(ticket, failure, now))?;
            match r {
                Ok(e) => errors::exception(py, &Error::Session(e)),
                Err(e) => Err(Error::Session(e).into()),
            }
        })
    }

    /// Takes every API response made with a token of this session: `token_id` from the
    /// `Authorization`, the response `status` and `headers` (its `Date` feeds the resource
    /// server's clock estimate), `sent`/`received` readings (`received=None`: now).
    #[pyo3(signature = (token_id, status, headers, sent, received=None))]
    fn on_response(
        &self,
        py: Python<'_>,
        token_id: Int<u64>,
        status: Int<u16>,
        headers: Option<&Bound<'_, PyAny>>,
        sent: Reading,
        received: Option<Reading>,
    ) -> PyResult<Verdict> {
        guard(|| {
            let headers = convert::headers(headers)?;
            let received = self.clock.reading(py, received)?;
            let token = core_s::TokenId(token_id.0);
            let v = self.with(py, move |s| {
                s.on_response(token, status.0, &headers, sent.0, received)
            })?;
            Ok(Verdict(v))
        })
    }

    /// The decision after an API response, for adapters: `on_response` (same arguments, same
    /// effect), then what to do with the response given which send of the call it answers
    /// (`attempt`: 1 for the first, 2 for the retry; `replayable`: whether the request can be
    /// sent again). See `AfterResponse`.
    #[pyo3(signature = (token_id, status, headers, sent, received=None, *, attempt=1, replayable=true))]
    #[allow(clippy::too_many_arguments)]
    fn after_response(
        &self,
        py: Python<'_>,
        token_id: Int<u64>,
        status: Int<u16>,
        headers: Option<&Bound<'_, PyAny>>,
        sent: Reading,
        received: Option<Reading>,
        attempt: u32,
        replayable: bool,
    ) -> PyResult<AfterResponse> {
        guard(|| {
            let headers = convert::headers(headers)?;
            let received = self.clock.reading(py, received)?;
            let token = core_s::TokenId(token_id.0);
            let attempt = core_s::Attempt {
                number: attempt,
                resend: if replayable {
                    core_s::Resend::Possible
                } else {
                    core_s::Resend::Impossible
                },
            };
            let a = self.with(py, move |s| {
                let a = s.after_response(token, status.0, &headers, sent.0, received, attempt);
                // Accepted: the next requests may be answered from a window again.
                if a == core_s::AfterResponse::Return {
                    self.set_window(s.ready_window(received))?;
                }
                Ok::<_, Error>(a)
            })??;
            Ok(AfterResponse(a))
        })
    }

    /// The bound on one token request, seconds (`token_timeout`, default 10).
    #[getter]
    fn token_timeout(&self, py: Python<'_>) -> PyResult<f64> {
        guard(|| Ok(seconds(self.with(py, |s| s.token_timeout_ms())?)))
    }

    /// Sets `token_timeout` (seconds, up to 600): an adapter's `token_timeout=` option.
    fn set_token_timeout(&self, py: Python<'_>, seconds: Secs) -> PyResult<()> {
        guard(|| {
            let ms = seconds.ms("token_timeout")?;
            let r = self.with(py, |s| s.set_token_timeout_ms(ms))?;
            Ok(r.map_err(Error::Session)?)
        })
    }

    /// The largest token response body read, in bytes after decoding (1 MiB): adapters stop
    /// reading past it and pass on one byte more (the session answers `body_too_large`).
    #[getter]
    fn max_token_response_len(&self, py: Python<'_>) -> PyResult<usize> {
        guard(|| self.with(py, |s| s.max_token_response_len()))
    }

    /// Token requests one API call performs at most (1): after that many, a failed refresh is
    /// raised to the caller.
    #[getter]
    fn refreshes_per_call(&self, py: Python<'_>) -> PyResult<u32> {
        guard(|| self.with(py, |s| s.refreshes_per_call()))
    }

    /// When the session next wants attention on its own (refresh time, hard expiry, end of a
    /// backoff, ticket timeout), or `None`.
    #[pyo3(signature = (now=None))]
    fn next_timeout(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Option<Reading>> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(self.with(py, |s| s.next_timeout(now))?.map(Reading))
        })
    }

    /// Counters: `token_requests`, `refreshes`, `failures`, `unauthorized`, `retries`,
    /// `abandoned_tickets`, `discontinuities`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let st = self.with(py, |s| s.stats().clone())?;
            let d = PyDict::new(py);
            d.set_item("token_requests", st.token_requests)?;
            d.set_item("refreshes", st.refreshes)?;
            d.set_item("failures", st.failures)?;
            d.set_item("unauthorized", st.unauthorized)?;
            d.set_item("retries", st.retries)?;
            d.set_item("abandoned_tickets", st.abandoned_tickets)?;
            d.set_item("discontinuities", st.discontinuities)?;
            Ok(d)
        })
    }

    /// The (issuer, resource server) clock-offset estimates at `now`.
    #[pyo3(signature = (now=None))]
    fn estimates(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<(Estimate, Estimate)> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            let (a, b) = self.with(py, |s| s.estimates(now))?;
            Ok((Estimate(a), Estimate(b)))
        })
    }

    /// The current token's state at `now` (judged against the resource server's estimate),
    /// or `None` without a token.
    #[pyo3(signature = (now=None))]
    fn token_state(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Option<TokenState>> {
        guard(|| {
            let now = self.clock.reading(py, now)?;
            Ok(self.with(py, |s| s.token_state(now))?.map(TokenState))
        })
    }

    /// The current token's id and `Lifetime`, or `None`.
    fn current_token(&self, py: Python<'_>) -> PyResult<Option<(u64, Lifetime)>> {
        guard(|| {
            let cur = self.with(py, |s| s.current_token().map(|(id, lt)| (id.0, *lt)))?;
            Ok(cur.map(|(id, inner)| {
                let clock = match &self.clock {
                    Clock::System => Clock::System,
                    Clock::Callable(f) => Clock::Callable(f.clone_ref(py)),
                };
                (
                    id,
                    Lifetime {
                        inner,
                        policy: self.policy,
                        clock,
                    },
                )
            }))
        })
    }

    /// Whether a ticket is outstanding.
    #[getter]
    fn refresh_in_flight(&self, py: Python<'_>) -> PyResult<bool> {
        guard(|| self.with(py, |s| s.refresh_in_flight()))
    }

    /// The next event, oldest first (at most 256 are kept), as a dict with `kind`
    /// (`ticket_issued`, `token_received`, `refresh_failed`, `token_reused`, `token_adopted`,
    /// `ticket_abandoned`, `rejected`, `clock_discontinuity`, `resource_estimate_reset`) and
    /// `at`; `None` when there is none. Core's `poll_event` (JS `pollEvent`). Never contains a
    /// token or secret.
    fn poll_event<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        guard(|| {
            let e = self.with(py, |s| s.poll_event())?;
            e.as_ref().map(|e| event_dict(py, e)).transpose()
        })
    }

    /// Drains every pending event (`poll_event` until `None`), oldest first. JS `events()`.
    /// `tokenclock.log_events(session)` logs them.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        guard(|| {
            let evs = self.with(py, |s| {
                std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>()
            })?;
            evs.iter().map(|e| event_dict(py, e)).collect()
        })
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Ok(w) = self.window.try_lock() {
            if let Some((_, obj)) = &w.credential {
                visit.call(obj)?;
            }
        }
        self.clock.traverse(&visit)
    }

    fn __clear__(&self) {
        if let Ok(mut w) = self.window.lock() {
            w.credential = None;
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Session(token_url={}, grant_type={}, client_id={}, clock='{}')",
            convert::py_str(&self.token_url),
            convert::py_str(self.grant_type),
            convert::py_opt_str(self.client_id.as_deref()),
            self.clock.describe()
        )
    }
}

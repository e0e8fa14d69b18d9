//! `KeySet` (core `verify::remote::RemoteKeySet`): the issuer's JWKS, fetched by the host,
//! cached and refetched by core's rules. The fetching driver is `tokenclock.remote`.

use std::sync::{Arc, Mutex, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokenclock::time::Reading as CoreReading;
use tokenclock::verify as core_v;
use tokenclock::verify::discovery::DiscoveryKind;
use tokenclock::verify::remote as core_r;

use crate::convert::{json_map_to_py, opt_seconds, py_opt_str, seconds, Clock, Secs};
use crate::errors::{guard, Error, POISONED};
use crate::skew::Estimate;
use crate::time::Reading;

/// One fetch to perform: `GET url`, at most `timeout` seconds, reading at most
/// `max_body_bytes` (read one byte more and report it: core refuses the body as too large).
#[pyclass(frozen, module = "tokenclock._native", name = "FetchTicket")]
pub struct FetchTicket {
    /// Pass back to `KeySet.on_response` / `on_failure`.
    #[pyo3(get)]
    id: u64,
    /// `"discovery"` or `"jwks"`.
    #[pyo3(get)]
    kind: &'static str,
    /// The URL (checked by core: https, or loopback / opted-in plain http).
    #[pyo3(get)]
    url: String,
    /// Request timeout, seconds.
    #[pyo3(get)]
    timeout: f64,
    /// Largest body core accepts.
    #[pyo3(get)]
    max_body_bytes: usize,
}

#[pymethods]
impl FetchTicket {
    fn __repr__(&self) -> String {
        format!(
            "FetchTicket(id={}, kind='{}', url={}, timeout={:.3})",
            self.id,
            self.kind,
            py_opt_str(Some(&self.url)),
            self.timeout
        )
    }
}

/// What to do now: `kind` is `"ready"`, `"ready_and_fetch"`, `"fetch"`, `"wait"` or
/// `"unavailable"` (from `KeySet.step`), or `"fetch"`, `"wait"`, `"no"` (from
/// `KeySet.on_unknown_kid`).
#[pyclass(frozen, module = "tokenclock._native", name = "KeyStep")]
pub struct KeyStep {
    /// The kind of step.
    #[pyo3(get)]
    kind: &'static str,
    /// The fetch to perform (`fetch`, `ready_and_fetch`).
    #[pyo3(get)]
    ticket: Option<Py<FetchTicket>>,
    /// Seconds: how long to wait at most (`wait`), or until a retry may happen (`no`,
    /// `unavailable`).
    #[pyo3(get)]
    wait: Option<f64>,
    /// The `KeysUnavailable` error to raise (`unavailable`).
    #[pyo3(get)]
    error: Option<Py<PyAny>>,
}

#[pymethods]
impl KeyStep {
    fn __repr__(&self, py: Python<'_>) -> String {
        let ticket = self
            .ticket
            .as_ref()
            .map_or_else(|| "None".to_owned(), |t| t.get().__repr__());
        let _ = py;
        format!(
            "KeyStep(kind='{}', ticket={ticket}, wait={})",
            self.kind,
            self.wait
                .map_or_else(|| "None".to_owned(), |w| format!("{w:.3}"))
        )
    }
}

fn ticket(py: Python<'_>, t: core_r::FetchTicket) -> PyResult<Py<FetchTicket>> {
    Py::new(
        py,
        FetchTicket {
            id: t.id,
            kind: t.kind.as_str(),
            url: t.url,
            timeout: seconds(t.timeout_ms),
            max_body_bytes: t.max_body_bytes,
        },
    )
}

fn step(py: Python<'_>, kind: &'static str) -> KeyStep {
    let _ = py;
    KeyStep {
        kind,
        ticket: None,
        wait: None,
        error: None,
    }
}

/// `Verifier.verify`'s result dict.
pub fn verified_dict<'py>(py: Python<'py>, v: &core_v::Verified) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("alg", v.alg.as_str())?;
    d.set_item("kid", v.kid.as_deref())?;
    d.set_item("claims", json_map_to_py(py, &v.claims)?)?;
    d.set_item("iat", opt_seconds(v.times.iat_ms))?;
    d.set_item("nbf", opt_seconds(v.times.nbf_ms))?;
    d.set_item("exp", opt_seconds(v.times.exp_ms))?;
    Ok(d)
}

/// The issuer's key set, fetched by the host (`tokenclock.remote.RemoteVerifier` does it on
/// httpx), cached and refetched by core: discovery with an exact issuer match, cache lifetime
/// from `max-age` (bounded), one fetch in flight, an unknown `kid` refetches at most once per
/// cooldown, a failed fetch never drops the keys in use, keys that leave the set are kept for a
/// grace period, and the responses' `Date` estimate the issuer's clock. Thread-safe.
#[pyclass(frozen, module = "tokenclock._native", name = "KeySet")]
pub struct KeySet {
    inner: Mutex<core_r::RemoteKeySet>,
    /// The keys in use, shared with verifications (which run without `inner`).
    current: RwLock<Option<(u64, Arc<core_v::Verifier>)>>,
    clock: Clock,
}

impl KeySet {
    fn with<T>(&self, f: impl FnOnce(&mut core_r::RemoteKeySet) -> T) -> Result<T, Error> {
        let mut g = self.inner.lock().map_err(|_| Error::Internal(POISONED))?;
        let out = f(&mut g);
        // Publish the keys in use when they changed (a fetch, a grace period's end).
        let generation = g.generation();
        let stale = self
            .current
            .read()
            .map_err(|_| Error::Internal(POISONED))?
            .as_ref()
            .is_none_or(|(seen, _)| *seen != generation);
        if stale {
            if let Some(v) = g.verifier() {
                *self
                    .current
                    .write()
                    .map_err(|_| Error::Internal(POISONED))? =
                    Some((generation, Arc::new(v.clone())));
            }
        }
        Ok(out)
    }

    fn now(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<CoreReading> {
        self.clock.reading(py, now)
    }
}

#[pymethods]
impl KeySet {
    /// A key set from `jwks_uri`, or from `issuer` (discovered first: OpenID Connect
    /// `discovery="openid"`, or RFC 8414 `"oauth"`; the issuer becomes the required `iss`
    /// unless `issuer_claim` names another). Verifier options as `Verifier`; fetch options in
    /// seconds: `fetch_timeout` 5, `cooldown` 30, `cache` 600 (without `max-age`), `min_cache`
    /// 60, `max_cache` 3600, `grace` 300, `retry_min` 1, `retry_max` 300; `allow_plain_http`
    /// for in-cluster issuers. `clock`: a callable returning a `Reading`.
    #[new]
    #[pyo3(signature = (jwks_uri=None, *, issuer=None, algorithms, leeway=Secs(5.0), audience=None,
        issuer_claim=None, max_age=None, require_exp=true, fetch_timeout=Secs(5.0), cooldown=Secs(30.0),
        cache=Secs(600.0), min_cache=Secs(60.0), max_cache=Secs(3600.0), grace=Secs(300.0),
        retry_min=Secs(1.0), retry_max=Secs(300.0), allow_plain_http=false, discovery="openid",
        clock=None),
        text_signature = "(jwks_uri=None, *, issuer=None, algorithms, leeway=5.0, audience=None, issuer_claim=None, max_age=None, require_exp=True, fetch_timeout=5.0, cooldown=30.0, cache=600.0, min_cache=60.0, max_cache=3600.0, grace=300.0, retry_min=1.0, retry_max=300.0, allow_plain_http=False, discovery='openid', clock=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        jwks_uri: Option<String>,
        issuer: Option<String>,
        algorithms: Vec<String>,
        leeway: Secs,
        audience: Option<&Bound<'_, PyAny>>,
        issuer_claim: Option<String>,
        max_age: Option<Secs>,
        require_exp: bool,
        fetch_timeout: Secs,
        cooldown: Secs,
        cache: Secs,
        min_cache: Secs,
        max_cache: Secs,
        grace: Secs,
        retry_min: Secs,
        retry_max: Secs,
        allow_plain_http: bool,
        discovery: &str,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let source = match (jwks_uri, issuer) {
                (Some(u), None) => core_r::KeySetSource::JwksUri(u),
                (None, Some(i)) => core_r::KeySetSource::Issuer(i),
                _ => {
                    return Err(Error::Arg("give exactly one of jwks_uri and issuer".into()).into())
                }
            };
            let o = crate::verify::verify_options(
                &algorithms,
                leeway,
                issuer_claim,
                audience,
                max_age,
                require_exp,
            )?;
            let mut c = core_r::KeySetConfig::default();
            c.fetch_timeout_ms = fetch_timeout.ms("fetch_timeout")?;
            c.cooldown_ms = cooldown.ms("cooldown")?;
            c.default_cache_ms = cache.ms("cache")?;
            c.min_cache_ms = min_cache.ms("min_cache")?;
            c.max_cache_ms = max_cache.ms("max_cache")?;
            c.grace_ms = grace.ms("grace")?;
            c.retry_min_ms = retry_min.ms("retry_min")?;
            c.retry_max_ms = retry_max.ms("retry_max")?;
            c.allow_plain_http = allow_plain_http;
            c.discovery = DiscoveryKind::from_name(discovery)
                .ok_or_else(|| Error::Arg("discovery must be 'openid' or 'oauth'".into()))?;
            let inner = core_r::RemoteKeySet::new(source, o, c).map_err(Error::KeySet)?;
            Ok(KeySet {
                inner: Mutex::new(inner),
                current: RwLock::new(None),
                clock: Clock::from_arg(clock)?,
            })
        })
    }

    /// What a verification does now (see `KeyStep`).
    #[pyo3(signature = (now=None))]
    fn step(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<KeyStep> {
        guard(|| {
            let now = self.now(py, now)?;
            Ok(match self.with(|k| k.step(now))? {
                core_r::KeyStep::Ready => step(py, "ready"),
                core_r::KeyStep::ReadyAndFetch(t) => KeyStep {
                    ticket: Some(ticket(py, t)?),
                    ..step(py, "ready_and_fetch")
                },
                core_r::KeyStep::Fetch(t) => KeyStep {
                    ticket: Some(ticket(py, t)?),
                    ..step(py, "fetch")
                },
                core_r::KeyStep::Wait { wait_ms } => KeyStep {
                    wait: Some(seconds(wait_ms)),
                    ..step(py, "wait")
                },
                core_r::KeyStep::Unavailable(e) => {
                    let wait = match e {
                        core_r::KeySetError::KeysUnavailable { retry_in_ms, .. } => {
                            Some(seconds(retry_in_ms))
                        }
                        _ => None,
                    };
                    KeyStep {
                        wait,
                        error: Some(crate::errors::exception(py, &Error::KeySet(e))?.unbind()),
                        ..step(py, "unavailable")
                    }
                }
            })
        })
    }

    /// A verification raised `UnknownKid` with a `kid` in the token: `"fetch"` (perform the
    /// ticket, then verify again), `"wait"` (for the fetch in flight) or `"no"` (the error
    /// stands; `wait` says until when).
    #[pyo3(signature = (now=None))]
    fn on_unknown_kid(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<KeyStep> {
        guard(|| {
            let now = self.now(py, now)?;
            Ok(match self.with(|k| k.on_unknown_kid(now))? {
                core_r::Refetch::Fetch(t) => KeyStep {
                    ticket: Some(ticket(py, t)?),
                    ..step(py, "fetch")
                },
                core_r::Refetch::Wait { wait_ms } => KeyStep {
                    wait: Some(seconds(wait_ms)),
                    ..step(py, "wait")
                },
                core_r::Refetch::No { retry_in_ms } => KeyStep {
                    wait: Some(seconds(retry_in_ms)),
                    ..step(py, "no")
                },
            })
        })
    }

    /// The response to ticket `ticket_id`: status, body (`bytes`) and the `Date`,
    /// `Cache-Control` and `Age` headers; `sent`/`received` readings around the exchange.
    /// Returns `{"outcome": "discovered"}` or `{"outcome": "keys_updated", "keys": n,
    /// "fresh_for": seconds}`; raises `KeySetError` (the fetch failed: the keys in use stay,
    /// the next attempt is backed off) or `StaleTicket`.
    #[pyo3(signature = (ticket_id, status, body, *, date=None, cache_control=None, age=None,
        sent=None, received=None))]
    #[allow(clippy::too_many_arguments)]
    fn on_response<'py>(
        &self,
        py: Python<'py>,
        ticket_id: u64,
        status: u16,
        body: &[u8],
        date: Option<&str>,
        cache_control: Option<&str>,
        age: Option<&str>,
        sent: Option<Reading>,
        received: Option<Reading>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let received = self.now(py, received)?;
            let sent = sent.map_or(received, |r| r.0);
            let response = core_r::FetchResponse {
                status,
                body,
                date,
                cache_control,
                age,
            };
            let d = PyDict::new(py);
            match self.with(|k| k.on_response(ticket_id, response, sent, received))? {
                Ok(core_r::FetchOutcome::Discovered) => d.set_item("outcome", "discovered")?,
                Ok(core_r::FetchOutcome::KeysUpdated { keys, fresh_for_ms }) => {
                    d.set_item("outcome", "keys_updated")?;
                    d.set_item("keys", keys)?;
                    d.set_item("fresh_for", seconds(fresh_for_ms))?;
                }
                Err(e) => return Err(Error::KeySet(e).into()),
            }
            Ok(d)
        })
    }

    /// Fetch `ticket_id` could not complete: `code` `"transport_error"` or `"timeout"`.
    /// Raises `StaleTicket` when it is no longer in flight.
    #[pyo3(signature = (ticket_id, code="transport_error", now=None))]
    fn on_failure(
        &self,
        py: Python<'_>,
        ticket_id: u64,
        code: &str,
        now: Option<Reading>,
    ) -> PyResult<()> {
        guard(|| {
            let now = self.now(py, now)?;
            let error = match code {
                "timeout" => core_r::KeySetError::Timeout,
                "transport_error" => core_r::KeySetError::Transport,
                _ => {
                    return Err(
                        Error::Arg("code must be 'transport_error' or 'timeout'".into()).into(),
                    )
                }
            };
            self.with(|k| k.on_failure(ticket_id, &error, now))?
                .map_err(|e| Error::KeySet(e).into())
        })
    }

    /// Verifies `token` (`str` or ASCII `bytes`) with the keys in use, at the wall time of
    /// `now` (default the clock). Returns `Verifier.verify`'s dict; raises an `InvalidToken`
    /// subclass, or `KeysUnavailable` before any key set was fetched.
    #[pyo3(signature = (token, now=None))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
        now: Option<Reading>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let token = crate::verify::token_bytes(token)?;
            let now = self.now(py, now)?;
            let keys = self
                .current
                .read()
                .map_err(|_| Error::Internal(POISONED))?
                .as_ref()
                .map(|(_, v)| Arc::clone(v));
            let Some(keys) = keys else {
                return Err(Error::KeySet(core_r::KeySetError::KeysUnavailable {
                    cause: "not_fetched",
                    retry_in_ms: 0,
                })
                .into());
            };
            let v = py
                .detach(|| core_v::token_text(&token).and_then(|t| keys.verify(t, now.wall)))
                .map_err(Error::Verify)?;
            verified_dict(py, &v)
        })
    }

    /// The issuer's clock as the responses' `Date` headers show it: `issuer − local`.
    #[pyo3(signature = (now=None))]
    fn estimate(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Estimate> {
        guard(|| {
            let now = self.now(py, now)?;
            Ok(Estimate(self.with(|k| k.estimate(now))?))
        })
    }

    /// `True` when this host's clock is off from the issuer's by more than the leeway (the
    /// whole offset interval outside ±leeway), `False` when not, `None` before both bounds
    /// are known. For a metric; the `clock_offset` event is the log line.
    #[pyo3(signature = (now=None))]
    fn clock_off(&self, py: Python<'_>, now: Option<Reading>) -> PyResult<Option<bool>> {
        guard(|| {
            let now = self.now(py, now)?;
            Ok(self.with(|k| k.clock_off(now))?)
        })
    }

    /// The next event (a dict with `"event"` and its fields, times in seconds), or `None`.
    fn poll_event<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        guard(|| {
            let Some(e) = self.with(core_r::RemoteKeySet::poll_event)? else {
                return Ok(None);
            };
            let d = PyDict::new(py);
            d.set_item("event", e.name())?;
            match e {
                core_r::KeySetEvent::Discovered { jwks_uri } => d.set_item("jwks_uri", jwks_uri)?,
                core_r::KeySetEvent::KeysUpdated {
                    keys,
                    added,
                    removed,
                    fresh_for_ms,
                } => {
                    d.set_item("keys", keys)?;
                    d.set_item("added", added)?;
                    d.set_item("removed", removed)?;
                    d.set_item("fresh_for", seconds(fresh_for_ms))?;
                }
                core_r::KeySetEvent::FetchFailed {
                    kind,
                    code,
                    retry_in_ms,
                    serving_last_good,
                } => {
                    d.set_item("kind", kind.as_str())?;
                    d.set_item("code", code)?;
                    d.set_item("retry_in", seconds(retry_in_ms))?;
                    d.set_item("serving_last_good", serving_last_good)?;
                }
                core_r::KeySetEvent::Recovered { failures } => d.set_item("failures", failures)?,
                core_r::KeySetEvent::GraceEnded { kids } => d.set_item("kids", kids)?,
                core_r::KeySetEvent::ClockOffset {
                    low_ms,
                    high_ms,
                    leeway_ms,
                } => {
                    d.set_item("low", opt_seconds(low_ms))?;
                    d.set_item("high", opt_seconds(high_ms))?;
                    d.set_item("leeway", seconds(leeway_ms))?;
                }
                core_r::KeySetEvent::ClockAgrees { offset_ms } => {
                    d.set_item("offset", seconds(offset_ms))?;
                }
                _ => {}
            }
            Ok(Some(d))
        })
    }

    /// The key set URL (configured, or learned by discovery; `None` before).
    #[getter]
    fn jwks_uri(&self) -> PyResult<Option<String>> {
        guard(|| Ok(self.with(|k| k.jwks_uri().map(str::to_owned))?))
    }

    /// The `kid`s of the keys in use (including those in their rotation grace).
    #[getter]
    fn kids(&self) -> PyResult<Vec<String>> {
        guard(|| {
            let cur = self.current.read().map_err(|_| Error::Internal(POISONED))?;
            Ok(cur
                .as_ref()
                .map(|(_, v)| v.kids().into_iter().map(str::to_owned).collect())
                .unwrap_or_default())
        })
    }

    /// The leeway, seconds.
    #[getter]
    fn leeway(&self) -> PyResult<f64> {
        guard(|| Ok(seconds(self.with(|k| k.options().leeway_ms)?)))
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.clock.traverse(&visit)
    }

    fn __repr__(&self) -> String {
        match self.inner.lock() {
            Ok(g) => format!(
                "KeySet(jwks_uri={}, keys={})",
                py_opt_str(g.jwks_uri()),
                g.verifier().map_or(0, core_v::Verifier::key_count)
            ),
            Err(_) => "KeySet(<unusable>)".to_owned(),
        }
    }
}

//! `FleetRefresh` (core `fleet::FleetRefresh`): the fleet refresh protocol's decisions, for
//! `tokenclock.store.RedisStore`. The store I/O (Redis) is Python's; every decision is core's.
//!
//! Methods take the `Session` the ticket belongs to; `now` defaults to that session's clock.
//! Times in the action are what Redis takes: whole milliseconds (`lease_ms`, `ttl_ms`), plus
//! `wait` in float seconds for sleeping.

use std::sync::Mutex;

use pyo3::prelude::*;
use tokenclock::fleet as core_f;
use tokenclock::record::RecordKey;

use crate::convert::{seconds, Int, Secs};
use crate::errors::{guard, Error, POISONED};
use crate::session::{ticket_id, Session};
use crate::time::Reading;

/// A token request as `(method, url, headers, body)`.
type RequestParts = (&'static str, String, Vec<(String, String)>, String);

/// What the host does next (`kind`): `read`, `probe_issuer`, `take_lease` (`lease_ms`),
/// `fetch` (`fencing` or None), `publish` (`fencing`, `value`, `ttl_ms`), `release`
/// (`fencing`), `wait` (`until`, `wait` seconds from the reading it was decided at), `done`
/// (`outcome`: `adopted` with `token_id`, `published`, `fetched`, `fetch_failed`, `abandoned`). `repr` never
/// shows `value` (it holds the token unless sealed).
#[pyclass(frozen, module = "tokenclock._native", name = "FleetAction")]
pub struct FleetAction {
    action: core_f::FleetAction,
    wait_ms: Option<i64>,
}

#[pymethods]
impl FleetAction {
    /// The action's name.
    #[getter]
    fn kind(&self) -> &'static str {
        self.action.kind()
    }

    /// The lease's fencing token (`fetch` under the lease, `publish`, `release`).
    #[getter]
    fn fencing(&self) -> Option<u64> {
        match &self.action {
            core_f::FleetAction::Fetch { fencing, .. } => *fencing,
            core_f::FleetAction::Publish { fencing, .. }
            | core_f::FleetAction::Release { fencing, .. } => Some(*fencing),
            _ => None,
        }
    }

    /// The lease value (`take_lease`, `publish`, `release`): unique to this attempt.
    #[getter]
    fn lease(&self) -> Option<&str> {
        match &self.action {
            core_f::FleetAction::TakeLease { lease, .. }
            | core_f::FleetAction::Publish { lease, .. }
            | core_f::FleetAction::Release { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// `fetch`: the token request to send instead of the ticket's (rebuilt with the fleet's
    /// latest refresh token), as `(method, url, headers, body)`; None: send the ticket's.
    #[getter]
    fn request(&self) -> Option<RequestParts> {
        match &self.action {
            core_f::FleetAction::Fetch {
                request: Some(r), ..
            } => Some((r.method, r.url.clone(), r.headers.clone(), r.body())),
            _ => None,
        }
    }

    /// `take_lease`: the lease time (ms) for `SET ... PX`.
    #[getter]
    fn lease_ms(&self) -> Option<u64> {
        match &self.action {
            core_f::FleetAction::TakeLease { lease_ms, .. } => Some(*lease_ms),
            _ => None,
        }
    }

    /// `publish`: the value to write (an encoded record, sealed when a key is set).
    #[getter]
    fn value(&self) -> Option<&str> {
        match &self.action {
            core_f::FleetAction::Publish { value, .. } => Some(value),
            _ => None,
        }
    }

    /// `publish`: the record's time to live in the store (ms).
    #[getter]
    fn ttl_ms(&self) -> Option<u64> {
        match &self.action {
            core_f::FleetAction::Publish { ttl_ms, .. } => Some(*ttl_ms),
            _ => None,
        }
    }

    /// `wait`: when to wake.
    #[getter]
    fn until(&self) -> Option<Reading> {
        match &self.action {
            core_f::FleetAction::Wait { until } => Some(Reading(*until)),
            _ => None,
        }
    }

    /// `wait`: seconds to sleep.
    #[getter]
    fn wait(&self) -> Option<f64> {
        self.wait_ms.map(seconds)
    }

    /// `done` with outcome `adopted`: the id of the adopted token (as `Session` reports it).
    #[getter]
    fn token_id(&self) -> Option<u64> {
        match &self.action {
            core_f::FleetAction::Done(core_f::FleetOutcome::Adopted(id)) => Some(id.0),
            _ => None,
        }
    }

    /// `done`: how the refresh ended.
    #[getter]
    fn outcome(&self) -> Option<&'static str> {
        match &self.action {
            core_f::FleetAction::Done(o) => Some(o.as_str()),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        match &self.action {
            core_f::FleetAction::Done(o) => format!("FleetAction(done, outcome='{}')", o.as_str()),
            a => format!("FleetAction({})", a.kind()),
        }
    }
}

fn action(a: &core_f::FleetAction, now: tokenclock::time::Reading) -> FleetAction {
    let wait_ms = match a {
        core_f::FleetAction::Wait { until } => Some(until.mono.since(now.mono).max(0)),
        _ => None,
    };
    FleetAction {
        action: a.clone(),
        wait_ms,
    }
}

/// The fleet refresh protocol for one ticket (see the core docs, `tokenclock::fleet`): ask
/// `action`, perform it against the store, answer with the matching `on_*` method, until
/// `done`. `store_key` is the record key (`store_keys(...)[0]`); `encryption_key`: 32 bytes
/// to seal records (AES-256-GCM). `lease`, `poll`, `max_wait`: seconds (defaults 15, 0.05,
/// 20).
#[pyclass(frozen, module = "tokenclock._native", name = "FleetRefresh")]
pub struct FleetRefresh {
    inner: Mutex<core_f::FleetRefresh>,
}

impl FleetRefresh {
    fn step(
        &self,
        py: Python<'_>,
        session: &Session,
        now: Option<Reading>,
        f: impl FnOnce(
                &mut core_f::FleetRefresh,
                &mut tokenclock::session::Session,
                tokenclock::time::Reading,
            ) -> Result<core_f::FleetAction, core_f::FleetError>
            + Send,
    ) -> PyResult<FleetAction> {
        guard(|| {
            let now = session.clock.reading(py, now)?;
            let mut fleet = self.inner.lock().map_err(|_| Error::Internal(POISONED))?;
            let fleet_ref: &mut core_f::FleetRefresh = &mut fleet;
            let r = session.with(py, |s| f(fleet_ref, s, now))?;
            Ok(action(&r.map_err(Error::Fleet)?, now))
        })
    }

    fn plain(
        &self,
        f: impl FnOnce(&mut core_f::FleetRefresh) -> Result<core_f::FleetAction, core_f::FleetError>,
    ) -> PyResult<FleetAction> {
        guard(|| {
            let mut fleet = self.inner.lock().map_err(|_| Error::Internal(POISONED))?;
            let a = f(&mut fleet).map_err(Error::Fleet)?;
            Ok(FleetAction {
                action: a,
                wait_ms: None,
            })
        })
    }
}

#[pymethods]
impl FleetRefresh {
    #[new]
    #[pyo3(signature = (ticket, store_key, *, lease=None, poll=None, max_wait=None, encryption_key=None))]
    fn new(
        ticket: &Bound<'_, PyAny>,
        store_key: &str,
        lease: Option<Secs>,
        poll: Option<Secs>,
        max_wait: Option<Secs>,
        encryption_key: Option<&[u8]>,
    ) -> PyResult<Self> {
        guard(|| {
            let ticket = ticket_id(ticket)?;
            let mut config = core_f::FleetConfig::default();
            if let Some(v) = lease {
                config.lease_ms = ms_u64(v, "lease")?;
            }
            if let Some(v) = poll {
                config.poll_ms = ms_u64(v, "poll")?;
            }
            if let Some(v) = max_wait {
                config.max_wait_ms = ms_u64(v, "max_wait")?;
            }
            let key =
                match encryption_key {
                    None => None,
                    Some(b) => Some(RecordKey::new(b).ok_or_else(|| {
                        Error::Arg("encryption_key must be exactly 32 bytes".into())
                    })?),
                };
            let mut lease_entropy = [0u8; 16];
            getrandom::fill(&mut lease_entropy)
                .map_err(|_| Error::Internal("the OS random number generator failed"))?;
            let inner = core_f::FleetRefresh::new(ticket, config, store_key, key, lease_entropy)
                .map_err(Error::Fleet)?;
            Ok(FleetRefresh {
                inner: Mutex::new(inner),
            })
        })
    }

    /// The bound on this refresh's token request and issuer probe, seconds: the session's
    /// `token_timeout`, cut to two thirds of the lease (a request outliving the lease would let
    /// a peer present the same refresh token again).
    fn token_timeout(&self, py: Python<'_>, session: &Bound<'_, Session>) -> PyResult<f64> {
        guard(|| {
            let fleet = self.inner.lock().map_err(|_| Error::Internal(POISONED))?;
            let ms = session.get().with(py, |s| fleet.token_timeout_ms(s))?;
            Ok(seconds(ms))
        })
    }

    /// The action to perform now.
    #[getter]
    fn action(&self) -> PyResult<FleetAction> {
        self.plain(|f| Ok(f.action().clone()))
    }

    /// Notes to log since the last call (drained): `record_ignored:<code>`,
    /// `store_unavailable`, `waiting_for_peer`, `gave_up_waiting`, `lease_lost`.
    fn notes(&self) -> PyResult<Vec<String>> {
        guard(|| {
            let mut fleet = self.inner.lock().map_err(|_| Error::Internal(POISONED))?;
            let mut out = Vec::new();
            while let Some(n) = fleet.poll_note() {
                out.push(match n {
                    core_f::FleetNote::RecordIgnored { code } => format!("record_ignored:{code}"),
                    other => other.kind().to_owned(),
                });
            }
            Ok(out)
        })
    }

    /// The answer to `read`: the value at the record key (None when absent).
    #[pyo3(signature = (session, value, now=None))]
    fn on_record(
        &self,
        py: Python<'_>,
        session: &Bound<'_, Session>,
        value: Option<String>,
        now: Option<Reading>,
    ) -> PyResult<FleetAction> {
        self.step(py, session.get(), now, move |f, s, now| {
            f.on_record(s, value.as_deref(), now).cloned()
        })
    }

    /// The answer to `probe_issuer` (after `Session.add_issuer_date`, also when it failed).
    #[pyo3(signature = (session, now=None))]
    fn on_probe(
        &self,
        py: Python<'_>,
        session: &Bound<'_, Session>,
        now: Option<Reading>,
    ) -> PyResult<FleetAction> {
        self.step(py, session.get(), now, |f, s, now| {
            f.on_probe(s, now).cloned()
        })
    }

    /// The answer to `take_lease`: the fencing token the script returned (0 or None: a peer
    /// holds the lease).
    #[pyo3(signature = (session, fencing, now=None))]
    fn on_lease(
        &self,
        py: Python<'_>,
        session: &Bound<'_, Session>,
        fencing: Option<Int<u64>>,
        now: Option<Reading>,
    ) -> PyResult<FleetAction> {
        let fencing = fencing.map(|Int(f)| f);
        self.step(py, session.get(), now, move |f, s, now| {
            f.on_lease(s, fencing, now).cloned()
        })
    }

    /// The answer to `wait`.
    #[pyo3(signature = (session, now=None))]
    fn on_wake(
        &self,
        py: Python<'_>,
        session: &Bound<'_, Session>,
        now: Option<Reading>,
    ) -> PyResult<FleetAction> {
        self.step(py, session.get(), now, |f, _, now| f.on_wake(now).cloned())
    }

    /// The answer to `fetch`: `ok` when `complete_refresh` returned a token.
    #[pyo3(signature = (session, ok, now=None))]
    fn on_fetched(
        &self,
        py: Python<'_>,
        session: &Bound<'_, Session>,
        ok: bool,
        now: Option<Reading>,
    ) -> PyResult<FleetAction> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|_| Error::Internal("the OS random number generator failed"))?;
        self.step(py, session.get(), now, move |f, s, now| {
            f.on_fetched(s, ok, now, nonce).cloned()
        })
    }

    /// The answer to `publish`: whether the script wrote the record (returned 1).
    fn on_published(&self, written: bool) -> PyResult<FleetAction> {
        self.plain(|f| f.on_published(written).cloned())
    }

    /// The answer to `release`.
    fn on_released(&self) -> PyResult<FleetAction> {
        self.plain(|f| f.on_released().cloned())
    }

    /// A store operation failed or timed out: the refresh goes on without the store (or
    /// fails as `store_unavailable` when the fleet shares the session's refresh token).
    #[pyo3(signature = (session, now=None))]
    fn on_store_error(
        &self,
        py: Python<'_>,
        session: &Bound<'_, Session>,
        now: Option<Reading>,
    ) -> PyResult<FleetAction> {
        self.step(py, session.get(), now, |f, s, now| {
            f.on_store_error(s, now).cloned()
        })
    }

    fn __repr__(&self) -> String {
        match self.inner.lock() {
            Ok(f) => format!(
                "FleetRefresh(ticket={}, action='{}')",
                f.ticket().0,
                f.action().kind()
            ),
            Err(_) => "FleetRefresh(<poisoned>)".into(),
        }
    }
}

fn ms_u64(v: Secs, name: &str) -> Result<u64, Error> {
    let ms = v.ms(name)?;
    u64::try_from(ms).map_err(|_| Error::Arg(format!("{name} must not be negative")))
}

/// The Redis keys `(record, lease, fence)` of the session's credential identity under
/// `prefix` (a hash, never a secret), for a store whose records are `sealed` or not. Raises
/// `partition_required` for an authorization-code or refresh-token session without a
/// partition, and `encryption_required` when its records (which carry the refresh token)
/// would not be sealed.
#[pyfunction]
#[pyo3(signature = (session, prefix="tokenclock", *, sealed=false))]
pub fn store_keys(
    py: Python<'_>,
    session: &Bound<'_, Session>,
    prefix: &str,
    sealed: bool,
) -> PyResult<(String, String, String)> {
    guard(|| {
        let sealing = if sealed {
            core_f::Sealing::Sealed
        } else {
            core_f::Sealing::Clear
        };
        let k = session
            .get()
            .with(py, |s| core_f::StoreKeys::for_session(prefix, s, sealing))?
            .map_err(Error::Fleet)?;
        Ok((k.record, k.lease, k.fence))
    })
}

/// Registers the fleet classes, `store_keys` and the Lua scripts.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FleetRefresh>()?;
    m.add_class::<FleetAction>()?;
    m.add_function(wrap_pyfunction!(store_keys, m)?)?;
    m.add("LUA_TAKE_LEASE", core_f::LUA_TAKE_LEASE)?;
    m.add("LUA_PUBLISH", core_f::LUA_PUBLISH)?;
    m.add("LUA_RELEASE", core_f::LUA_RELEASE)?;
    Ok(())
}

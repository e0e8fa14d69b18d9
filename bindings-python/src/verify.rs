//! The resource-server side: `Verifier` (core `verify`) and `SkewMonitor` (core `monitor`).

use std::sync::Mutex;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use tokenclock::monitor as core_mon;
use tokenclock::time::UnixMillis;
use tokenclock::verify as core_v;

use crate::convert::{opt_seconds, py_list, py_opt_str, seconds, Clock, Secs};
use crate::errors::{guard, Error, POISONED};

/// Where the key comes from, as the Python argument gave it.
enum KeyText {
    /// Key bytes: core decides between an HMAC secret and a PEM by the pinned algorithms.
    Bytes(Vec<u8>),
    Pem(String),
    Jwk(String),
    Jwks(String),
}

/// Whether `v` is a `collections.abc.Mapping` (a `dict`, a `MappingProxyType`, …).
fn is_mapping(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    if v.is_instance_of::<PyDict>() {
        return Ok(true);
    }
    v.is_instance(&py.import("collections.abc")?.getattr("Mapping")?)
}

/// JSON text of a mapping (through Python's `json.dumps`; a mapping that is not a `dict` is
/// copied into one first), or the `str`/`bytes`/`bytearray` itself.
fn json_text(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    let bytes = if let Ok(b) = v.cast::<PyBytes>() {
        Some(b.as_bytes().to_vec())
    } else if let Ok(b) = v.cast::<PyByteArray>() {
        Some(b.to_vec())
    } else {
        None
    };
    if let Some(bytes) = bytes {
        return String::from_utf8(bytes)
            .map_err(|_| Error::Arg("key document is not UTF-8".into()).into());
    }
    if is_mapping(py, v)? {
        let dict = if v.is_instance_of::<PyDict>() {
            v.clone()
        } else {
            PyDict::from_sequence(&v.call_method0("items")?)?.into_any()
        };
        return py.import("json")?.call_method1("dumps", (dict,))?.extract();
    }
    Err(PyTypeError::new_err(
        "a JWK/JWKS must be a mapping, str or bytes",
    ))
}

/// The token as text for core: a `str` (one with a lone surrogate is encoded with
/// `surrogatepass`, which core refuses as not UTF-8), `bytes` or `bytearray` (as PyJWT takes);
/// anything else is core's `not_a_string`. Every failure is an `InvalidToken`.
pub(crate) fn token_bytes(token: &Bound<'_, PyAny>) -> Result<Vec<u8>, Error> {
    if let Ok(s) = token.cast::<PyString>() {
        return match s.to_cow() {
            Ok(text) => Ok(text.into_owned().into_bytes()),
            Err(_) => s
                .call_method1("encode", ("utf-8", "surrogatepass"))
                .and_then(|b| b.extract::<Vec<u8>>())
                .map_err(|_| Error::Verify(core_v::TOKEN_NOT_A_STRING)),
        };
    }
    if let Ok(b) = token.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = token.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    Err(Error::Verify(core_v::TOKEN_NOT_A_STRING))
}

/// `key=`: `bytes`/`bytearray` → key bytes (core: an HMAC secret when an HS algorithm is
/// pinned, else a PEM public key, as PyJWT), `str` → PEM public key or certificate (or, when
/// its first non-blank character is `{`, one JWK as JSON text: no PEM starts so), a mapping →
/// one JWK.
fn key_text(py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<KeyText> {
    if let Ok(b) = key.cast::<PyBytes>() {
        return Ok(KeyText::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = key.cast::<PyByteArray>() {
        return Ok(KeyText::Bytes(b.to_vec()));
    }
    if let Ok(s) = key.cast::<PyString>() {
        let text = s.to_cow()?.into_owned();
        if text.trim_start().starts_with('{') {
            return Ok(KeyText::Jwk(text));
        }
        return Ok(KeyText::Pem(text));
    }
    if is_mapping(py, key)? {
        return Ok(KeyText::Jwk(json_text(py, key)?));
    }
    Err(PyTypeError::new_err(
        "key must be bytes (HMAC secret or PEM), str (PEM public key or certificate) or a mapping (JWK)",
    ))
}

/// Audiences: one string or an iterable of strings.
pub(crate) fn audiences(v: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(v) if v.is_none() => Ok(Vec::new()),
        Some(v) => {
            if let Ok(s) = v.extract::<String>() {
                Ok(vec![s])
            } else {
                v.try_iter()?.map(|x| x?.extract::<String>()).collect()
            }
        }
    }
}

/// Core `VerifyOptions` from the Python arguments every verifier takes (`Verifier`, `KeySet`).
pub(crate) fn verify_options(
    algorithms: &[String],
    leeway: Secs,
    issuer: Option<String>,
    audience: Option<&Bound<'_, PyAny>>,
    max_age: Option<Secs>,
    require_exp: bool,
) -> PyResult<core_v::VerifyOptions> {
    let mut algs = Vec::with_capacity(algorithms.len());
    for name in algorithms {
        algs.push(
            name.parse::<core_v::Algorithm>()
                .map_err(Error::VerifierSetup)?,
        );
    }
    let mut o = core_v::VerifyOptions::new(&algs);
    o.leeway_ms = leeway.ms("leeway")?;
    o.issuer = issuer;
    o.audience = audiences(audience)?;
    o.max_age_ms = max_age.map(|m| m.ms("max_age")).transpose()?;
    o.require_exp = require_exp;
    Ok(o)
}

/// Verifies JWTs (core `Verifier`): signature with pinned algorithms and a key, then `iss`,
/// `aud` and the time claims with a leeway on an injected clock. Immutable and thread-safe.
#[pyclass(frozen, module = "tokenclock._native", name = "Verifier")]
pub struct Verifier {
    inner: core_v::Verifier,
    clock: Clock,
}

impl Verifier {
    #[allow(clippy::too_many_arguments)]
    fn build(
        py: Python<'_>,
        key: KeyText,
        algorithms: Vec<String>,
        leeway: Secs,
        issuer: Option<String>,
        audience: Option<&Bound<'_, PyAny>>,
        max_age: Option<Secs>,
        allow_large_leeway: bool,
        require_exp: bool,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut o = verify_options(&algorithms, leeway, issuer, audience, max_age, require_exp)?;
        o.allow_large_leeway = allow_large_leeway;
        let clock = Clock::from_arg(clock)?;
        let inner = py
            .detach(|| {
                let source = match &key {
                    KeyText::Bytes(b) => core_v::KeySource::Bytes(b),
                    KeyText::Pem(p) => core_v::KeySource::Pem(p.as_bytes()),
                    KeyText::Jwk(j) => core_v::KeySource::Jwk(j),
                    KeyText::Jwks(j) => core_v::KeySource::Jwks(j),
                };
                core_v::Verifier::new(source, o)
            })
            .map_err(Error::VerifierSetup)?;
        Ok(Verifier { inner, clock })
    }
}

#[pymethods]
impl Verifier {
    /// `key`: `bytes` (HMAC secret, at least 32 bytes), `str` (PEM public key or
    /// certificate; a `str` starting with `{` is one JWK as JSON text) or `dict` (one JWK;
    /// `Verifier.from_jwk` takes any JWK text). `algorithms`: the pinned JOSE names. `leeway`
    /// seconds (default 5, at most 30 unless `allow_large_leeway`), `issuer`, `audience`
    /// (str or list), `max_age` (seconds from `iat`), `require_exp`. `clock`: a callable
    /// returning a `Reading` (its `wall` is used).
    #[new]
    #[pyo3(signature = (key, algorithms, *, leeway=Secs(5.0), issuer=None, audience=None, max_age=None,
        allow_large_leeway=false, require_exp=true, clock=None),
        text_signature = "(key, algorithms, *, leeway=5.0, issuer=None, audience=None, max_age=None, allow_large_leeway=False, require_exp=True, clock=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        algorithms: Vec<String>,
        leeway: Secs,
        issuer: Option<String>,
        audience: Option<&Bound<'_, PyAny>>,
        max_age: Option<Secs>,
        allow_large_leeway: bool,
        require_exp: bool,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let key = key_text(py, key)?;
            Self::build(
                py,
                key,
                algorithms,
                leeway,
                issuer,
                audience,
                max_age,
                allow_large_leeway,
                require_exp,
                clock,
            )
        })
    }

    /// A verifier over one JWK given as JSON text (`str`/`bytes`, passed to core as it is:
    /// core's JSON reader judges it, e.g. repeated members) or as a `dict`. A text that is not
    /// one usable JWK raises `InvalidKey` (or another `VerifierSetupError`).
    #[staticmethod]
    #[pyo3(signature = (jwk, algorithms, *, leeway=Secs(5.0), issuer=None, audience=None, max_age=None,
        allow_large_leeway=false, require_exp=true, clock=None),
        text_signature = "(jwk, algorithms, *, leeway=5.0, issuer=None, audience=None, max_age=None, allow_large_leeway=False, require_exp=True, clock=None)")]
    #[allow(clippy::too_many_arguments)]
    fn from_jwk(
        py: Python<'_>,
        jwk: &Bound<'_, PyAny>,
        algorithms: Vec<String>,
        leeway: Secs,
        issuer: Option<String>,
        audience: Option<&Bound<'_, PyAny>>,
        max_age: Option<Secs>,
        allow_large_leeway: bool,
        require_exp: bool,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let key = KeyText::Jwk(json_text(py, jwk)?);
            Self::build(
                py,
                key,
                algorithms,
                leeway,
                issuer,
                audience,
                max_age,
                allow_large_leeway,
                require_exp,
                clock,
            )
        })
    }

    /// A verifier over a JWKS document (`{"keys": [...]}` as a dict, str or bytes). Keys that
    /// cannot verify signatures are skipped; a token's `kid` selects among the rest.
    #[staticmethod]
    #[pyo3(signature = (jwks, algorithms, *, leeway=Secs(5.0), issuer=None, audience=None, max_age=None,
        allow_large_leeway=false, require_exp=true, clock=None),
        text_signature = "(jwks, algorithms, *, leeway=5.0, issuer=None, audience=None, max_age=None, allow_large_leeway=False, require_exp=True, clock=None)")]
    #[allow(clippy::too_many_arguments)]
    fn from_jwks(
        py: Python<'_>,
        jwks: &Bound<'_, PyAny>,
        algorithms: Vec<String>,
        leeway: Secs,
        issuer: Option<String>,
        audience: Option<&Bound<'_, PyAny>>,
        max_age: Option<Secs>,
        allow_large_leeway: bool,
        require_exp: bool,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let key = KeyText::Jwks(json_text(py, jwks)?);
            Self::build(
                py,
                key,
                algorithms,
                leeway,
                issuer,
                audience,
                max_age,
                allow_large_leeway,
                require_exp,
                clock,
            )
        })
    }

    /// Verifies the bare compact `token` (`str` or `bytes`) at wall time `now` (Unix seconds,
    /// floored to the millisecond; default the verifier's clock). Returns `{"alg", "kid",
    /// "claims", "iat", "nbf", "exp"}` (times in seconds or None); raises an `InvalidToken`
    /// subclass, also for a token that is not text (`MalformedToken`).
    #[pyo3(signature = (token, now=None))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
        now: Option<Secs>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let now = match now {
                Some(t) => {
                    // The range and NaN checks (and their messages) are the binding's usual
                    // ones; the value is core's exact floor.
                    let rounded = t.ms("now")?;
                    UnixMillis::floor_from_seconds_f64(t.0).unwrap_or(UnixMillis(rounded))
                }
                None => self.clock.reading(py, None)?.wall,
            };
            let token = token_bytes(token)?;
            // Signature checks are the CPU-heavy part of a request: other threads run meanwhile.
            let v = py
                .detach(|| {
                    core_v::token_text(&token).and_then(|token| self.inner.verify(token, now))
                })
                .map_err(Error::Verify)?;
            crate::keyset::verified_dict(py, &v)
        })
    }

    /// A verifier whose keys come from `issuer`'s discovery document and key set, fetched
    /// with httpx: `tokenclock.remote.RemoteVerifier.from_issuer(issuer, **options)`.
    #[staticmethod]
    #[pyo3(signature = (issuer, **options))]
    fn from_issuer<'py>(
        py: Python<'py>,
        issuer: &str,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        py.import("tokenclock.remote")?
            .getattr("RemoteVerifier")?
            .call_method("from_issuer", (issuer,), options)
    }

    /// A verifier whose keys come from the key set at `jwks_uri`:
    /// `tokenclock.remote.RemoteVerifier.from_jwks_uri(jwks_uri, **options)`.
    #[staticmethod]
    #[pyo3(signature = (jwks_uri, **options))]
    fn from_jwks_uri<'py>(
        py: Python<'py>,
        jwks_uri: &str,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        py.import("tokenclock.remote")?
            .getattr("RemoteVerifier")?
            .call_method("from_jwks_uri", (jwks_uri,), options)
    }

    /// The pinned algorithms (deduplicated).
    #[getter]
    fn algorithms(&self) -> Vec<&'static str> {
        self.inner.algorithms().iter().map(|a| a.as_str()).collect()
    }

    /// The `kid`s of the usable keys, in document order.
    #[getter]
    fn kids(&self) -> Vec<String> {
        self.inner.kids().into_iter().map(str::to_owned).collect()
    }

    /// Number of usable keys.
    #[getter]
    fn key_count(&self) -> usize {
        self.inner.key_count()
    }

    /// The leeway, seconds.
    #[getter]
    fn leeway(&self) -> f64 {
        seconds(self.inner.options().leeway_ms)
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.clock.traverse(&visit)
    }

    fn __repr__(&self) -> String {
        let o = self.inner.options();
        format!(
            "Verifier(algorithms={}, keys={}, kids={}, leeway={:.3}, issuer={}, audience={})",
            py_list(&self.algorithms()),
            self.inner.key_count(),
            py_list(&self.kids()),
            self.leeway(),
            py_opt_str(o.issuer.as_deref()),
            py_list(&o.audience)
        )
    }
}

// ----- SkewMonitor ----------------------------------------------------------------------------

/// A mergeable histogram of the ages (`verifier now − iat`) of accepted tokens, and a verdict
/// on this server's clock against the issuer's (core `SkewMonitor`). Thread-safe.
#[pyclass(frozen, module = "tokenclock._native", name = "SkewMonitor")]
pub struct SkewMonitor {
    inner: Mutex<core_mon::SkewMonitor>,
    clock: Clock,
}

impl SkewMonitor {
    fn with<T>(&self, f: impl FnOnce(&mut core_mon::SkewMonitor) -> T) -> Result<T, Error> {
        let mut g = self.inner.lock().map_err(|_| Error::Internal(POISONED))?;
        Ok(f(&mut g))
    }
}

#[pymethods]
impl SkewMonitor {
    #[new]
    #[pyo3(signature = (*, clock=None))]
    fn new(clock: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        guard(|| {
            Ok(SkewMonitor {
                inner: Mutex::new(core_mon::SkewMonitor::new()),
                clock: Clock::from_arg(clock)?,
            })
        })
    }

    /// Records one token age, seconds (negative: stamped in this server's future).
    fn record(&self, age: Secs) -> PyResult<()> {
        guard(|| {
            let age = age.ms("age")?;
            Ok(self.with(|m| m.record(age))?)
        })
    }

    /// Records the age of a token with `iat` (Unix seconds) verified at `now` (default the
    /// monitor's clock).
    #[pyo3(signature = (iat, now=None))]
    fn record_token(&self, py: Python<'_>, iat: Secs, now: Option<Secs>) -> PyResult<()> {
        guard(|| {
            let now = match now {
                Some(t) => t.ms("now")?,
                None => self.clock.reading(py, None)?.wall.as_millis(),
            };
            let iat = iat.ms("iat")?;
            Ok(self.with(|m| m.record_token(UnixMillis(now), iat))?)
        })
    }

    /// Adds another monitor's counts to this one.
    fn merge(&self, other: &Bound<'_, SkewMonitor>) -> PyResult<()> {
        guard(|| {
            // Copy first: merging a monitor into itself must not lock it twice.
            let theirs = other.get().with(|m| m.clone())?;
            Ok(self.with(|m| m.merge(&theirs))?)
        })
    }

    /// The estimated `q`-quantile of the ages (seconds), or `None` with no ages. `q` in
    /// [0, 1], else `MonitorError`.
    fn quantile(&self, q: Secs) -> PyResult<Option<f64>> {
        guard(|| {
            let q = q.0;
            // Core answers None for both "no data" and "bad q"; the bad q is the caller's
            // error and core's `invalid_quantile` code names it.
            if !(0.0..=1.0).contains(&q) {
                return Err(Error::Monitor(core_mon::MonitorError::InvalidQuantile).into());
            }
            Ok(opt_seconds(self.with(|m| m.quantile(q))?))
        })
    }

    /// `{"verdict": "insufficient" | "behind" | "ahead" | "consistent", "count", "p01",
    /// "p05", "p50", "p95", "p99"}` (quantiles in seconds or None).
    fn assessment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let a = self.with(|m| m.assessment())?;
            let d = PyDict::new(py);
            d.set_item("verdict", a.verdict.as_str())?;
            d.set_item("count", a.count)?;
            d.set_item("p01", opt_seconds(a.p01_ms))?;
            d.set_item("p05", opt_seconds(a.p05_ms))?;
            d.set_item("p50", opt_seconds(a.p50_ms))?;
            d.set_item("p95", opt_seconds(a.p95_ms))?;
            d.set_item("p99", opt_seconds(a.p99_ms))?;
            Ok(d)
        })
    }

    /// Ages recorded.
    #[getter]
    fn count(&self) -> PyResult<u64> {
        guard(|| Ok(self.with(|m| m.count())?))
    }

    /// Sum of the ages, seconds.
    #[getter]
    fn sum(&self) -> PyResult<f64> {
        guard(|| Ok(self.with(|m| m.sum_ms() as f64 / 1000.0)?))
    }

    /// Per-bucket counts (fixed edges, see the core docs).
    #[getter]
    fn bucket_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let counts = self.with(|m| m.bucket_counts().to_vec())?;
            PyList::new(py, counts)
        })
    }

    /// The versioned JSON form (mergeable across processes).
    fn to_json(&self) -> PyResult<String> {
        guard(|| Ok(self.with(|m| m.to_json())?))
    }

    /// Reads the JSON form.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<SkewMonitor> {
        guard(|| {
            let m = core_mon::SkewMonitor::from_json(text).map_err(Error::Monitor)?;
            Ok(SkewMonitor {
                inner: Mutex::new(m),
                clock: Clock::System,
            })
        })
    }

    /// Prometheus text exposition of the histogram under metric `name`.
    fn prometheus(&self, name: &str) -> PyResult<String> {
        guard(|| Ok(self.with(|m| m.prometheus(name))?.map_err(Error::Monitor)?))
    }

    fn __len__(&self) -> PyResult<usize> {
        guard(|| Ok(usize::try_from(self.with(|m| m.count())?).unwrap_or(usize::MAX)))
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.clock.traverse(&visit)
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let (n, p50) = self.with(|m| (m.count(), m.quantile(0.5)))?;
            Ok(format!(
                "SkewMonitor(count={n}, p50={})",
                opt_seconds(p50).map_or_else(|| "None".to_owned(), |v| format!("{v:.3}"))
            ))
        })
    }
}

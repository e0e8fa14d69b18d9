//! Parsers: `peek` (JWT claims, unverified), HTTP dates and `Retry-After`, token endpoint
//! responses; and the time comparison of `rules`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tokenclock::httpdate as core_http;
use tokenclock::oauth as core_oauth;
use tokenclock::peek as core_peek;
use tokenclock::time::UnixMillis;

use crate::convert::{self, json_map_to_py, opt_seconds, seconds, Secs, Sign};
use crate::errors::{guard, Error};

/// The package version (the Rust workspace version, which the Python package shares).
#[pyfunction]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Is a token with expiry `exp_s` expired at `now_s`, allowing `leeway_s` seconds of
/// leeway? (`now - leeway >= exp`, RFC 7519 §4.1.4.) Raises `ValueError` for NaN,
/// infinities, out-of-range values and a negative leeway.
#[pyfunction]
pub fn rules_is_expired(now_s: Secs, exp_s: Secs, leeway_s: Secs) -> PyResult<bool> {
    guard(|| {
        let now = now_s.ms("now_s")?;
        let exp = exp_s.ms("exp_s")?;
        let leeway = leeway_s.ms_signed("leeway_s", Sign::NonNegative)?;
        Ok(tokenclock::rules::is_expired(now, exp, leeway))
    })
}

/// Reads a JWT's header and claims **without verifying it**: `alg`, `kid`, `typ`, `iss`,
/// `sub`, `jti` (str or None), `aud` (list), `iat`/`nbf`/`exp` (Unix seconds or None), and
/// the whole `header` and `claims` dicts. A `Bearer ` prefix and surrounding whitespace are
/// ignored. Raises `MalformedToken` (`.code` says what was wrong).
#[pyfunction]
pub fn peek<'py>(py: Python<'py>, token: &str) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let p = core_peek::peek(token).map_err(Error::Peek)?;
        let d = PyDict::new(py);
        d.set_item("alg", p.alg.as_deref())?;
        d.set_item("kid", p.kid.as_deref())?;
        d.set_item("typ", p.typ.as_deref())?;
        d.set_item("iat", opt_seconds(p.times.iat_ms))?;
        d.set_item("nbf", opt_seconds(p.times.nbf_ms))?;
        d.set_item("exp", opt_seconds(p.times.exp_ms))?;
        d.set_item("iss", p.iss.as_deref())?;
        d.set_item("sub", p.sub.as_deref())?;
        d.set_item("aud", PyList::new(py, &p.aud)?)?;
        d.set_item("jti", p.jti.as_deref())?;
        d.set_item("header", json_map_to_py(py, &p.header)?)?;
        d.set_item("claims", json_map_to_py(py, &p.claims)?)?;
        Ok(d)
    })
}

fn reference_ms(py: Python<'_>, reference: Option<Secs>) -> Result<UnixMillis, Error> {
    Ok(UnixMillis(match reference {
        Some(r) => r.ms("reference")?,
        None => convert::system_reading(py)?.wall.as_millis(),
    }))
}

/// Parses an HTTP date (IMF-fixdate, rfc850 or asctime) to Unix seconds. `reference` (local
/// wall seconds, default now) only places an rfc850 two-digit year.
#[pyfunction]
#[pyo3(signature = (s, reference=None))]
pub fn parse_http_date(py: Python<'_>, s: &str, reference: Option<Secs>) -> PyResult<f64> {
    guard(|| {
        let reference = reference_ms(py, reference)?;
        let t = core_http::parse_http_date(s, reference).map_err(Error::HttpDate)?;
        Ok(seconds(t.as_millis()))
    })
}

/// Formats Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); sub-seconds are
/// floored away and the value is clamped to 1970..=9999.
#[pyfunction]
pub fn format_http_date(t: Secs) -> PyResult<String> {
    guard(|| Ok(core_http::format_http_date(UnixMillis(t.ms("t")?))))
}

/// Parses a `Retry-After` value: `{"kind": "delay", "delay": seconds}` or `{"kind": "date",
/// "date": Unix seconds on the server's clock}`.
#[pyfunction]
#[pyo3(signature = (s, reference=None))]
pub fn parse_retry_after<'py>(
    py: Python<'py>,
    s: &str,
    reference: Option<Secs>,
) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let reference = reference_ms(py, reference)?;
        let d = PyDict::new(py);
        match core_http::parse_retry_after(s, reference).map_err(Error::HttpDate)? {
            core_http::RetryAfter::Delay { ms } => {
                d.set_item("kind", "delay")?;
                d.set_item("delay", seconds(ms))?;
            }
            core_http::RetryAfter::Date(t) => {
                d.set_item("kind", "date")?;
                d.set_item("date", seconds(t.as_millis()))?;
            }
        }
        Ok(d)
    })
}

/// A successful token response (RFC 6749 §5.1). `repr` never shows a token.
#[pyclass(frozen, module = "tokenclock._native", name = "TokenResponse")]
pub struct TokenResponse(pub core_oauth::TokenResponse);

#[pymethods]
impl TokenResponse {
    /// The access token.
    #[getter]
    fn access_token(&self) -> &str {
        self.0.access_token.expose()
    }

    /// Always `"Bearer"`.
    #[getter]
    fn token_type(&self) -> &'static str {
        self.0.token_type.as_str()
    }

    /// `expires_in`, seconds, if given.
    #[getter]
    fn expires_in(&self) -> Option<f64> {
        opt_seconds(self.0.expires_in_ms)
    }

    /// A new refresh token, if given.
    #[getter]
    fn refresh_token(&self) -> Option<&str> {
        self.0
            .refresh_token
            .as_ref()
            .map(core_oauth::Secret::expose)
    }

    /// The granted scope, if given.
    #[getter]
    fn scope(&self) -> Option<&str> {
        self.0.scope.as_deref()
    }

    /// An OpenID Connect ID token, if given (not verified).
    #[getter]
    fn id_token(&self) -> Option<&str> {
        self.0.id_token.as_ref().map(core_oauth::Secret::expose)
    }

    fn __repr__(&self) -> String {
        format!(
            "TokenResponse(token_type='Bearer', expires_in={}, refresh_token={}, scope={})",
            self.expires_in()
                .map_or_else(|| "None".into(), |e| format!("{e:.3}")),
            if self.0.refresh_token.is_some() {
                "'<redacted>'"
            } else {
                "None"
            },
            convert::py_opt_str(self.0.scope.as_deref())
        )
    }
}

/// Parses a token endpoint response (`status`, `headers`, raw `body`). Raises a
/// `RefreshError` subclass classified as the session would (`InvalidGrantError`,
/// `TemporarilyUnavailableError`, `InvalidClientError`, or `RefreshError`).
#[pyfunction]
#[pyo3(signature = (status, headers, body))]
pub fn parse_token_response(
    py: Python<'_>,
    status: convert::Int<u16>,
    headers: Option<&Bound<'_, PyAny>>,
    body: &Bound<'_, PyAny>,
) -> PyResult<TokenResponse> {
    guard(|| {
        let headers = convert::headers(headers)?;
        let body = convert::body(body)?;
        // Up to 1 MiB of JSON: parsed without holding the GIL.
        let r = py
            .detach(|| core_oauth::parse_token_response(status.0, &headers, &body))
            .map_err(Error::TokenEndpoint)?;
        Ok(TokenResponse(r))
    })
}

/// The refresh token to keep after `response` (rotation, RFC 6749 §6): the new one when the
/// response has one, else `previous`.
#[pyfunction]
pub fn refresh_token_to_keep(
    previous: Option<&str>,
    response: &Bound<'_, TokenResponse>,
) -> PyResult<Option<String>> {
    guard(|| {
        let prev = previous.map(core_oauth::Secret::new);
        Ok(
            core_oauth::refresh_token_to_keep(prev.as_ref(), &response.get().0)
                .map(|s| s.expose().to_owned()),
        )
    })
}

//! Every core error type mapped to its own Python exception class, in one function
//! ([`exception`]), after polars' `From<PolarsError> for PyErr`.
//!
//! The classes are created once in the native module (and re-exported by
//! `tokenclock/errors.py`). `create_exception!` takes a single base class, but
//! `InvalidArgument` must be both a `TokenClockError` and a `ValueError` (and `MalformedToken`
//! both an `InvalidToken` and an `InvalidArgument`), so the classes are built from the table
//! [`SPECS`] with `type(name, bases, namespace)` — the same kind of class `create_exception!`
//! makes, with a tuple of bases.
//!
//! Every instance has `.code` (the core `ErrorCode`); detail attributes are float seconds.
//! Class attributes give every documented attribute a default, so `except` handlers and
//! `mypy.stubtest` can rely on them. Messages are core's `Display`, which never contains a
//! token, secret or raw input.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use tokenclock::fleet::FleetError;
use tokenclock::httpdate::HttpDateError;
use tokenclock::lifetime::LifetimeError;
use tokenclock::monitor::MonitorError;
use tokenclock::oauth::{
    ErrorClass, GrantError, OAuthError, RedirectError, TokenEndpointError, TokenEndpointErrorKind,
};
use tokenclock::peek::PeekError;
use tokenclock::session::{SessionError, TransportFailure};
use tokenclock::skew::SkewError;
use tokenclock::sntp::SntpError;
use tokenclock::time::TimeRangeError;
use tokenclock::verify::remote::KeySetError;
use tokenclock::verify::VerifyError;
use tokenclock::ErrorCode;

use crate::convert::seconds;

/// An error on its way to Python: a core error (with the context that decides its class) or
/// the binding's own argument check.
#[derive(Debug)]
pub enum Error {
    /// A bad argument caught at the binding edge (a number that is not representable, an
    /// unknown option name). Code `invalid_argument`.
    Arg(String),
    /// A reading outside core's range (`Reading::new`). Code `invalid_argument`.
    Time(TimeRangeError),
    /// `peek` (and the token half of other parsers).
    Peek(PeekError),
    HttpDate(HttpDateError),
    Sntp(SntpError),
    Skew(SkewError),
    Lifetime(LifetimeError),
    Grant(GrantError),
    Redirect(RedirectError),
    TokenEndpoint(TokenEndpointError),
    Session(SessionError),
    /// A verifier rejecting a token.
    Verify(VerifyError),
    /// A verifier that cannot be built (keys, options).
    VerifierSetup(VerifyError),
    Monitor(MonitorError),
    /// A remote key set (`KeySet`): configuration, a failed fetch, no keys yet.
    KeySet(KeySetError),
    /// The fleet protocol (an input out of turn, a bad configuration).
    Fleet(FleetError),
    /// A panic or a poisoned lock: a bug, reported as `internal_error`.
    Internal(&'static str),
}

/// The exception classes, in creation order (a class after its bases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exc {
    TokenClockError,
    InvalidArgument,
    HttpDateError,
    SntpError,
    SkewSampleError,
    LifetimeError,
    GrantError,
    RedirectError,
    ConfigError,
    InvalidKey,
    MonitorError,
    StaleTicket,
    ClockSkewError,
    RefreshError,
    InvalidClientError,
    InvalidGrantError,
    TemporarilyUnavailableError,
    InvalidToken,
    TokenExpired,
    TokenNotYetValid,
    TokenIssuedInFuture,
    TokenTooOld,
    InvalidSignature,
    MalformedToken,
    UnknownKid,
    AlgorithmNotAllowed,
    KeyAlgorithmMismatch,
    InvalidIssuer,
    InvalidAudience,
    MissingClaim,
    KeySetError,
    KeysUnavailable,
}

/// A base of an exception class.
#[derive(Clone, Copy)]
enum Base {
    Ours(Exc),
    Exception,
    ValueError,
}

/// A class attribute default.
#[derive(Clone, Copy)]
enum AttrDefault {
    Str(&'static str),
    None,
    False,
}

struct Spec {
    exc: Exc,
    name: &'static str,
    bases: &'static [Base],
    doc: &'static str,
    /// Class-level defaults (`code` first).
    attrs: &'static [(&'static str, AttrDefault)],
}

use AttrDefault::{None as Nil, Str};
use Base::{Ours, ValueError};

const SPECS: &[Spec] = &[
    Spec { exc: Exc::TokenClockError, name: "TokenClockError", bases: &[Base::Exception],
        doc: "Base class of every tokenclock error. `.code` is the stable core error code.",
        attrs: &[("code", Str("internal_error"))] },
    Spec { exc: Exc::InvalidArgument, name: "InvalidArgument", bases: &[Ours(Exc::TokenClockError), ValueError],
        doc: "A bad argument or a bad input (a malformed token, date, packet or document). `.what` names the field when known.",
        attrs: &[("code", Str("invalid_argument")), ("what", Nil)] },
    Spec { exc: Exc::HttpDateError, name: "HttpDateError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "An HTTP date or Retry-After value that cannot be read.",
        attrs: &[("code", Str("invalid_http_date"))] },
    Spec { exc: Exc::SntpError, name: "SntpError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "An SNTP reply that fails a check. `.kiss_code` for a kiss-o'-death.",
        attrs: &[("code", Str("sntp_error")), ("kiss_code", Nil)] },
    Spec { exc: Exc::SkewSampleError, name: "SkewSampleError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "A clock-offset sample that cannot be formed (readings out of order, a clock jump during the exchange, bounds out of range).",
        attrs: &[("code", Str("invalid_sample"))] },
    Spec { exc: Exc::LifetimeError, name: "LifetimeError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "Token times or an expiry policy out of range.",
        attrs: &[("code", Str("time_out_of_range"))] },
    Spec { exc: Exc::GrantError, name: "GrantError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "A token request, authorization URL or assertion that cannot be built.",
        attrs: &[("code", Str("invalid_parameter"))] },
    Spec { exc: Exc::RedirectError, name: "RedirectError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "An authorization redirect that is not a usable response. `.oauth_error` and `.description` for `authorization_error`.",
        attrs: &[("code", Str("malformed_redirect")), ("oauth_error", Nil), ("description", Nil)] },
    Spec { exc: Exc::ConfigError, name: "ConfigError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "An invalid configuration of a Session or a Verifier.",
        attrs: &[("code", Str("invalid_config"))] },
    Spec { exc: Exc::InvalidKey, name: "InvalidKey", bases: &[Ours(Exc::ConfigError)],
        doc: "A verification key or key set that cannot be used.",
        attrs: &[("code", Str("invalid_key"))] },
    Spec { exc: Exc::MonitorError, name: "MonitorError", bases: &[Ours(Exc::InvalidArgument)],
        doc: "A bad SkewMonitor document, metric name or quantile.",
        attrs: &[("code", Str("invalid_monitor_json"))] },
    Spec { exc: Exc::StaleTicket, name: "StaleTicket", bases: &[Ours(Exc::TokenClockError)],
        doc: "The refresh ticket is not the outstanding one (closed, timed out or foreign); its result was ignored.",
        attrs: &[("code", Str("stale_ticket"))] },
    Spec { exc: Exc::ClockSkewError, name: "ClockSkewError", bases: &[Ours(Exc::TokenClockError)],
        doc: "A resource server keeps rejecting fresh tokens and clock skew explains it. `.evidence` is a dict.",
        attrs: &[("code", Str("clock_skew")), ("evidence", Nil)] },
    Spec { exc: Exc::RefreshError, name: "RefreshError", bases: &[Ours(Exc::TokenClockError)],
        doc: "Getting a token failed. `.retry_at` (local wall seconds) when a retry is scheduled.",
        attrs: &[("code", Str("refresh_error")), ("retry_at", Nil), ("retry_after", Nil), ("status", Nil),
            ("oauth_error", Nil), ("description", Nil), ("error_class", Nil), ("kind", Nil), ("failure", Nil)] },
    Spec { exc: Exc::InvalidClientError, name: "InvalidClientError", bases: &[Ours(Exc::RefreshError)],
        doc: "The token endpoint rejected the client credentials (`invalid_client`).",
        attrs: &[("code", Str("invalid_client"))] },
    Spec { exc: Exc::InvalidGrantError, name: "InvalidGrantError", bases: &[Ours(Exc::RefreshError)],
        doc: "The grant (refresh token, code, assertion) is dead; authorize again.",
        attrs: &[("code", Str("invalid_grant"))] },
    Spec { exc: Exc::TemporarilyUnavailableError, name: "TemporarilyUnavailableError", bases: &[Ours(Exc::RefreshError)],
        doc: "A transient token-endpoint failure; the session retries after `.retry_at`.",
        attrs: &[("code", Str("temporarily_unavailable"))] },
    Spec { exc: Exc::InvalidToken, name: "InvalidToken", bases: &[Ours(Exc::TokenClockError)],
        doc: "The verifier rejected a token.",
        attrs: &[("code", Str("invalid_token")), ("likely_clock_skew", AttrDefault::False)] },
    Spec { exc: Exc::TokenExpired, name: "TokenExpired", bases: &[Ours(Exc::InvalidToken)],
        doc: "`now - leeway >= exp`. `.expired_by` = now - exp, seconds.",
        attrs: &[("code", Str("expired")), ("expired_by", Nil)] },
    Spec { exc: Exc::TokenNotYetValid, name: "TokenNotYetValid", bases: &[Ours(Exc::InvalidToken)],
        doc: "`now + leeway < nbf`. `.valid_in` = nbf - now, seconds.",
        attrs: &[("code", Str("not_yet_valid")), ("valid_in", Nil)] },
    Spec { exc: Exc::TokenIssuedInFuture, name: "TokenIssuedInFuture", bases: &[Ours(Exc::InvalidToken)],
        doc: "`now + leeway < iat`. `.issued_in` = iat - now, seconds.",
        attrs: &[("code", Str("issued_in_future")), ("issued_in", Nil)] },
    Spec { exc: Exc::TokenTooOld, name: "TokenTooOld", bases: &[Ours(Exc::InvalidToken)],
        doc: "Older than max_age. `.too_old_by` in seconds.",
        attrs: &[("code", Str("too_old")), ("too_old_by", Nil)] },
    Spec { exc: Exc::InvalidSignature, name: "InvalidSignature", bases: &[Ours(Exc::InvalidToken)],
        doc: "The signature does not verify.",
        attrs: &[("code", Str("invalid_signature"))] },
    Spec { exc: Exc::MalformedToken, name: "MalformedToken", bases: &[Ours(Exc::InvalidToken), Ours(Exc::InvalidArgument)],
        doc: "The token cannot be parsed. `.reason` is the parse error code, `.what` the segment or claim.",
        attrs: &[("code", Str("malformed_token")), ("reason", Nil)] },
    Spec { exc: Exc::UnknownKid, name: "UnknownKid", bases: &[Ours(Exc::InvalidToken)],
        doc: "No key for the token's kid (or several keys and no kid).",
        attrs: &[("code", Str("unknown_kid")), ("kid_in_token", Nil)] },
    Spec { exc: Exc::AlgorithmNotAllowed, name: "AlgorithmNotAllowed", bases: &[Ours(Exc::InvalidToken)],
        doc: "The token's alg is none, unknown or not pinned. `.alg` when it is a supported one.",
        attrs: &[("code", Str("algorithm_not_allowed")), ("alg", Nil)] },
    Spec { exc: Exc::KeyAlgorithmMismatch, name: "KeyAlgorithmMismatch", bases: &[Ours(Exc::InvalidToken)],
        doc: "The selected key cannot verify the token's algorithm.",
        attrs: &[("code", Str("key_algorithm_mismatch")), ("alg", Nil)] },
    Spec { exc: Exc::InvalidIssuer, name: "InvalidIssuer", bases: &[Ours(Exc::InvalidToken)],
        doc: "`iss` is not the expected issuer.", attrs: &[("code", Str("invalid_issuer"))] },
    Spec { exc: Exc::InvalidAudience, name: "InvalidAudience", bases: &[Ours(Exc::InvalidToken)],
        doc: "`aud` contains none of the expected audiences.", attrs: &[("code", Str("invalid_audience"))] },
    Spec { exc: Exc::MissingClaim, name: "MissingClaim", bases: &[Ours(Exc::InvalidToken)],
        doc: "A required claim is absent. `.claim` names it.",
        attrs: &[("code", Str("missing_claim")), ("claim", Nil)] },
    Spec { exc: Exc::KeySetError, name: "KeySetError", bases: &[Ours(Exc::TokenClockError)],
        doc: "Fetching the issuer's keys or metadata failed (the keys in use stay; the next attempt is backed off).",
        attrs: &[("code", Str("key_set_error"))] },
    Spec { exc: Exc::KeysUnavailable, name: "KeysUnavailable", bases: &[Ours(Exc::KeySetError)],
        doc: "No key set has been fetched yet and none can be now. `.cause` is the last failure's code, `.retry_in` seconds until the next attempt.",
        attrs: &[("code", Str("keys_unavailable")), ("cause", Nil), ("retry_in", Nil)] },
];

static TYPES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn build_types(py: Python<'_>) -> PyResult<Vec<Py<PyType>>> {
    let type_ = py.import("builtins")?.getattr("type")?;
    let mut made: Vec<Py<PyType>> = Vec::with_capacity(SPECS.len());
    for (i, spec) in SPECS.iter().enumerate() {
        debug_assert_eq!(spec.exc as usize, i);
        let mut bases = Vec::with_capacity(spec.bases.len());
        for b in spec.bases {
            bases.push(match b {
                Base::Exception => py.get_type::<PyException>().into_any(),
                Base::ValueError => py.get_type::<pyo3::exceptions::PyValueError>().into_any(),
                Base::Ours(e) => made
                    .get(*e as usize)
                    .map(|t| t.bind(py).clone().into_any())
                    .ok_or_else(|| {
                        pyo3::exceptions::PyRuntimeError::new_err("exception table order")
                    })?,
            });
        }
        let ns = PyDict::new(py);
        ns.set_item("__module__", "tokenclock._native")?;
        ns.set_item("__doc__", spec.doc)?;
        for (name, default) in spec.attrs {
            match default {
                Str(s) => ns.set_item(name, s)?,
                Nil => ns.set_item(name, py.None())?,
                AttrDefault::False => ns.set_item(name, false)?,
            }
        }
        let cls = type_.call1((spec.name, PyTuple::new(py, bases)?, ns))?;
        made.push(cls.cast_into::<PyType>()?.unbind());
    }
    Ok(made)
}

fn types(py: Python<'_>) -> PyResult<&'static Vec<Py<PyType>>> {
    TYPES.get_or_try_init(py, || build_types(py))
}

/// The class for `e`.
pub fn class(py: Python<'_>, e: Exc) -> PyResult<Bound<'_, PyType>> {
    types(py)?
        .get(e as usize)
        .map(|t| t.bind(py).clone())
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("unknown exception class"))
}

/// Adds every class to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (spec, t) in SPECS.iter().zip(types(py)?) {
        m.add(spec.name, t.bind(py))?;
    }
    Ok(())
}

/// Detail attributes of one exception instance.
type Attrs<'py> = Vec<(&'static str, Bound<'py, PyAny>)>;

fn opt<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: Option<T>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => v.into_bound_py_any(py),
        None => Ok(py.None().into_bound(py)),
    }
}

fn any<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> PyResult<Bound<'py, PyAny>> {
    v.into_bound_py_any(py)
}

/// Class and detail attributes of a token-endpoint failure, classified by core's
/// `ErrorClass`.
fn token_endpoint<'py>(
    py: Python<'py>,
    e: &TokenEndpointError,
    attrs: &mut Attrs<'py>,
) -> PyResult<Exc> {
    let (kind, oauth_error, description) = match e.kind() {
        TokenEndpointErrorKind::OAuth {
            error, description, ..
        } => (
            "oauth",
            Some(error.as_str().to_owned()),
            description.clone(),
        ),
        TokenEndpointErrorKind::Http { .. } => ("http", None, None),
        TokenEndpointErrorKind::Malformed { .. } => ("malformed", None, None),
        _ => ("other", None, None),
    };
    attrs.push(("status", any(py, e.status())?));
    attrs.push(("kind", any(py, kind)?));
    attrs.push(("oauth_error", opt(py, oauth_error)?));
    attrs.push(("description", opt(py, description)?));
    attrs.push(("retry_after", opt(py, e.retry_after())?));
    attrs.push(("error_class", any(py, e.class().as_str())?));
    let is_invalid_client = matches!(
        e.kind(),
        TokenEndpointErrorKind::OAuth {
            error: OAuthError::InvalidClient,
            ..
        }
    );
    Ok(refresh_class(e.class(), is_invalid_client))
}

fn refresh_class(class: ErrorClass, invalid_client: bool) -> Exc {
    match class {
        ErrorClass::InvalidGrant => Exc::InvalidGrantError,
        ErrorClass::Transient => Exc::TemporarilyUnavailableError,
        ErrorClass::Permanent if invalid_client => Exc::InvalidClientError,
        ErrorClass::Permanent => Exc::RefreshError,
    }
}

fn failure_name(f: TransportFailure) -> &'static str {
    f.as_str()
}

/// The one mapping: a core error → (class, code, message, detail attributes).
fn classify<'py>(py: Python<'py>, e: &Error) -> PyResult<(Exc, &'static str, String, Attrs<'py>)> {
    let mut attrs: Attrs<'py> = Vec::new();
    let (exc, code, msg) = match e {
        Error::Arg(msg) => (Exc::InvalidArgument, "invalid_argument", msg.clone()),
        Error::Time(t) => {
            attrs.push(("what", any(py, t.what)?));
            (
                Exc::InvalidArgument,
                "invalid_argument",
                format!("{} reading is out of range", t.what),
            )
        }
        Error::Peek(p) => {
            attrs.push(("reason", any(py, p.code())?));
            attrs.push(("what", opt(py, p.what())?));
            (Exc::MalformedToken, p.code(), p.to_string())
        }
        Error::HttpDate(h) => (Exc::HttpDateError, h.code(), h.to_string()),
        Error::Sntp(s) => {
            attrs.push(("kiss_code", opt(py, s.kiss_code())?));
            (Exc::SntpError, s.code(), s.to_string())
        }
        Error::Skew(s) => {
            if let SkewError::InvalidSample(what) = s {
                attrs.push(("what", any(py, *what)?));
            }
            (Exc::SkewSampleError, s.code(), s.to_string())
        }
        Error::Lifetime(l) => {
            if let LifetimeError::OutOfRange(what) | LifetimeError::InvalidPolicy(what) = l {
                attrs.push(("what", any(py, *what)?));
            }
            (Exc::LifetimeError, l.code(), l.to_string())
        }
        Error::Grant(g) => (Exc::GrantError, g.code(), g.to_string()),
        Error::Redirect(r) => {
            if let RedirectError::Authorization { error, description } = r {
                attrs.push(("oauth_error", any(py, error.as_str())?));
                attrs.push(("description", opt(py, description.as_deref())?));
            }
            (Exc::RedirectError, r.code(), r.to_string())
        }
        Error::TokenEndpoint(t) => {
            let exc = token_endpoint(py, t, &mut attrs)?;
            (exc, t.code(), t.to_string())
        }
        Error::Session(s) => {
            let code = s.code();
            let exc = match s {
                SessionError::TokenEndpoint { error, .. } => token_endpoint(py, error, &mut attrs)?,
                SessionError::Transport { failure, .. } => {
                    attrs.push(("failure", any(py, failure_name(*failure))?));
                    attrs.push(("error_class", any(py, "transient")?));
                    Exc::TemporarilyUnavailableError
                }
                SessionError::StaleTicket => Exc::StaleTicket,
                SessionError::Lifetime(_) => Exc::LifetimeError,
                SessionError::Grant(_) => Exc::GrantError,
                SessionError::InvalidConfig(_) | SessionError::Identity(_) => Exc::ConfigError,
                SessionError::InvalidArgument(_) => Exc::InvalidArgument,
                other => match other.class() {
                    Some(class) => {
                        attrs.push(("error_class", any(py, class.as_str())?));
                        refresh_class(class, false)
                    }
                    None => Exc::TokenClockError,
                },
            };
            if let Some(at) = s.retry_at() {
                attrs.push(("retry_at", any(py, seconds(at.as_millis()))?));
            }
            (exc, code, s.to_string())
        }
        Error::Verify(v) => {
            let exc = match *v {
                VerifyError::Expired {
                    by_ms,
                    likely_clock_skew,
                } => {
                    attrs.push(("expired_by", any(py, seconds(by_ms))?));
                    attrs.push(("likely_clock_skew", any(py, likely_clock_skew)?));
                    Exc::TokenExpired
                }
                VerifyError::NotYetValid {
                    valid_in_ms,
                    likely_clock_skew,
                } => {
                    attrs.push(("valid_in", any(py, seconds(valid_in_ms))?));
                    attrs.push(("likely_clock_skew", any(py, likely_clock_skew)?));
                    Exc::TokenNotYetValid
                }
                VerifyError::IssuedInFuture {
                    by_ms,
                    likely_clock_skew,
                } => {
                    attrs.push(("issued_in", any(py, seconds(by_ms))?));
                    attrs.push(("likely_clock_skew", any(py, likely_clock_skew)?));
                    Exc::TokenIssuedInFuture
                }
                VerifyError::TooOld { by_ms } => {
                    attrs.push(("too_old_by", any(py, seconds(by_ms))?));
                    Exc::TokenTooOld
                }
                VerifyError::InvalidSignature => Exc::InvalidSignature,
                VerifyError::AlgorithmNotAllowed { alg } => {
                    attrs.push(("alg", opt(py, alg.map(|a| a.as_str()))?));
                    Exc::AlgorithmNotAllowed
                }
                VerifyError::KeyAlgorithmMismatch { alg } => {
                    attrs.push(("alg", opt(py, alg.map(|a| a.as_str()))?));
                    Exc::KeyAlgorithmMismatch
                }
                VerifyError::UnknownKid { kid_in_token } => {
                    attrs.push(("kid_in_token", any(py, kid_in_token)?));
                    Exc::UnknownKid
                }
                VerifyError::MalformedToken { reason, what } => {
                    attrs.push(("reason", any(py, reason)?));
                    attrs.push(("what", opt(py, what)?));
                    Exc::MalformedToken
                }
                VerifyError::TokenTooLarge { .. } => {
                    attrs.push(("reason", any(py, "token_too_large")?));
                    Exc::MalformedToken
                }
                VerifyError::InvalidIssuer => Exc::InvalidIssuer,
                VerifyError::InvalidAudience => Exc::InvalidAudience,
                VerifyError::MissingClaim { claim } => {
                    attrs.push(("claim", any(py, claim)?));
                    Exc::MissingClaim
                }
                VerifyError::InvalidKey { .. } | VerifyError::InvalidJwks { .. } => Exc::InvalidKey,
                _ => Exc::ConfigError,
            };
            (exc, v.code(), v.to_string())
        }
        Error::VerifierSetup(v) => {
            let exc = match v {
                VerifyError::InvalidKey { .. } | VerifyError::InvalidJwks { .. } => Exc::InvalidKey,
                _ => Exc::ConfigError,
            };
            (exc, v.code(), v.to_string())
        }
        Error::Monitor(m) => (Exc::MonitorError, m.code(), m.to_string()),
        Error::KeySet(k) => {
            let exc = match k {
                KeySetError::InvalidConfig { .. }
                | KeySetError::InvalidUrl { .. }
                | KeySetError::InsecureUrl { .. } => Exc::ConfigError,
                KeySetError::StaleTicket => Exc::StaleTicket,
                KeySetError::KeysUnavailable { cause, retry_in_ms } => {
                    attrs.push(("cause", any(py, *cause)?));
                    attrs.push(("retry_in", any(py, seconds(*retry_in_ms))?));
                    Exc::KeysUnavailable
                }
                _ => Exc::KeySetError,
            };
            (exc, k.code(), k.to_string())
        }
        Error::Fleet(f) => {
            let exc = match f {
                FleetError::InvalidConfig(_)
                | FleetError::Identity(_)
                | FleetError::EncryptionRequired => Exc::ConfigError,
                FleetError::InvalidArgument(_) => Exc::InvalidArgument,
                _ => Exc::TokenClockError,
            };
            (exc, f.code(), f.to_string())
        }
        Error::Internal(what) => (
            Exc::TokenClockError,
            "internal_error",
            format!("internal error in tokenclock ({what}); please report it"),
        ),
    };
    Ok((exc, code, msg, attrs))
}

/// The exception instance for `e` (not raised): `.error` of an `Authorization`, the return
/// value of `Session.fail_refresh`, and every raised error.
pub fn exception<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyAny>> {
    let (exc, code, msg, attrs) = classify(py, e)?;
    let inst = class(py, exc)?.call1((msg,))?;
    inst.setattr("code", code)?;
    for (name, value) in attrs {
        inst.setattr(name, value)?;
    }
    Ok(inst)
}

/// An exception instance of `exc` with a message and attributes (for errors that are not a
/// core error value, e.g. `ClockSkewError` built from a 401 diagnosis).
pub fn make<'py>(
    py: Python<'py>,
    exc: Exc,
    code: &str,
    msg: &str,
    attrs: Attrs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let inst = class(py, exc)?.call1((msg,))?;
    inst.setattr("code", code)?;
    for (name, value) in attrs {
        inst.setattr(name, value)?;
    }
    Ok(inst)
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| match exception(py, &e) {
            Ok(inst) => PyErr::from_value(inst),
            Err(err) => err,
        })
    }
}

/// Core results into `PyResult`.
pub trait Mapped<T> {
    fn py(self) -> PyResult<T>;
}

impl<T, E> Mapped<T> for Result<T, E>
where
    Error: From<E>,
{
    fn py(self) -> PyResult<T> {
        self.map_err(|e| PyErr::from(Error::from(e)))
    }
}

macro_rules! from_core {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::$v(e)
            }
        })*
    };
}

from_core! {
    TimeRangeError => Time,
    PeekError => Peek,
    HttpDateError => HttpDate,
    SntpError => Sntp,
    SkewError => Skew,
    LifetimeError => Lifetime,
    GrantError => Grant,
    RedirectError => Redirect,
    TokenEndpointError => TokenEndpoint,
    SessionError => Session,
    VerifyError => Verify,
    MonitorError => Monitor,
}

/// The last-resort guard around every entry point: a panic becomes
/// `TokenClockError(code="internal_error")` instead of PyO3's `PanicException` (a
/// `BaseException` that `except Exception` would not catch). Core must not panic; a panic
/// seen here is a bug to fix in core.
pub fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(Error::Internal("a panic was caught").into()),
    }
}

/// Message for a poisoned lock (a panic happened while it was held).
pub const POISONED: &str = "this object is unusable after an earlier internal error";

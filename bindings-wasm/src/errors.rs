//! Errors thrown to JavaScript: always real `Error` objects, never strings, never a trap.
//!
//! * Core errors become `TokenClockError` (the class in `npm/errors.js`, registered once per
//!   module by the package entry through [`set_error_class`]) with a stable `.code` (the core's
//!   `ErrorCode`) and detail fields named in camelCase. Before registration (e.g. in
//!   wasm-bindgen-test) a plain `Error` named `TokenClockError` with the same fields is thrown.
//! * Bad numbers are `RangeError`s, values of the wrong type `TypeError`s; both carry
//!   `.code = "invalid_argument"`.
//!
//! Messages come from the core's `Display` impls, which never contain a token, a secret or
//! raw input bytes; the binding's own messages name the parameter, never its value.

use std::cell::RefCell;

use js_sys::{Array, Function, Object, Reflect};
use tokenclock::ErrorCode;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The code of every argument error raised at the edge (`RangeError`, `TypeError`).
pub const INVALID_ARGUMENT: &str = "invalid_argument";

thread_local! {
    /// `TokenClockError` from `npm/errors.js` (one class shared by the client and full modules).
    static ERROR_CLASS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Registers the `TokenClockError` class the module throws (called once by the package's entry
/// modules right after instantiation; not part of the public API).
#[wasm_bindgen(js_name = __tokenclockSetErrorClass)]
pub fn set_error_class(class: JsValue) -> Result<(), JsValue> {
    let class = class
        .dyn_into::<Function>()
        .map_err(|_| type_error("the error class must be a constructor"))?;
    ERROR_CLASS.with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(class);
        }
    });
    Ok(())
}

/// A detail object under construction: `Details::new().str("what", "exp").build()`.
pub struct Details(Object);

impl Details {
    pub fn new() -> Self {
        Details(Object::new())
    }

    pub fn set(self, key: &str, value: JsValue) -> Self {
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value);
        self
    }

    pub fn str(self, key: &str, value: &str) -> Self {
        self.set(key, JsValue::from_str(value))
    }

    pub fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        self.set(key, value.map_or(JsValue::NULL, JsValue::from_str))
    }

    pub fn num(self, key: &str, value: i64) -> Self {
        self.set(key, JsValue::from_f64(value as f64))
    }

    pub fn opt_num(self, key: &str, value: Option<i64>) -> Self {
        self.set(
            key,
            value.map_or(JsValue::NULL, |v| JsValue::from_f64(v as f64)),
        )
    }

    pub fn bool(self, key: &str, value: bool) -> Self {
        self.set(key, JsValue::from_bool(value))
    }

    pub fn build(self) -> Object {
        self.0
    }
}

impl Default for Details {
    fn default() -> Self {
        Details::new()
    }
}

/// A `TokenClockError(code, message, details)`.
pub fn tc_error(code: &str, message: &str, details: Details) -> JsValue {
    let details = details.build();
    let class = ERROR_CLASS.with(|slot| slot.try_borrow().ok().and_then(|c| c.clone()));
    if let Some(class) = class {
        let args = Array::of3(
            &JsValue::from_str(code),
            &JsValue::from_str(message),
            &details,
        );
        if let Ok(err) = Reflect::construct(&class, &args) {
            return err;
        }
    }
    let err = js_sys::Error::new(message);
    err.set_name("TokenClockError");
    let _ = Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    let _ = Object::assign(&err, &details);
    err.into()
}

/// A core error with no detail fields beyond `.code`.
pub fn core_error<E: ErrorCode + std::fmt::Display>(e: &E) -> JsValue {
    tc_error(e.code(), &e.to_string(), Details::new())
}

fn with_code(err: JsValue) -> JsValue {
    let _ = Reflect::set(
        &err,
        &JsValue::from_str("code"),
        &JsValue::from_str(INVALID_ARGUMENT),
    );
    err
}

/// A `RangeError` with `.code = "invalid_argument"`.
pub fn range_error(message: &str) -> JsValue {
    with_code(js_sys::RangeError::new(message).into())
}

/// A `TypeError` with `.code = "invalid_argument"`.
pub fn type_error(message: &str) -> JsValue {
    with_code(js_sys::TypeError::new(message).into())
}

/// A `RangeError` carrying a core code other than `invalid_argument` (a number the core
/// refuses for a reason it names, e.g. `invalid_quantile`).
pub fn range_error_with_code<E: ErrorCode + std::fmt::Display>(e: &E) -> JsValue {
    let err: JsValue = js_sys::RangeError::new(&e.to_string()).into();
    let _ = Reflect::set(
        &err,
        &JsValue::from_str("code"),
        &JsValue::from_str(e.code()),
    );
    err
}

// ----- per-family detail fields --------------------------------------------------------------

/// `peek`: `.what` names the segment, header parameter or claim (never input text).
pub fn peek_error(e: &tokenclock::peek::PeekError) -> JsValue {
    tc_error(
        e.code(),
        &e.to_string(),
        Details::new().opt_str("what", e.what()),
    )
}

/// SNTP: a kiss-o'-death carries `.kissCode` (the 4 ASCII letters, or `null`).
#[cfg(feature = "node")]
pub fn sntp_error(e: &tokenclock::sntp::SntpError) -> JsValue {
    let details = match e {
        tokenclock::sntp::SntpError::KissOfDeath { .. } => {
            Details::new().opt_str("kissCode", e.kiss_code())
        }
        _ => Details::new(),
    };
    tc_error(e.code(), &e.to_string(), details)
}

/// Building a token request, an authorization URL or a key: `.what` names the value.
pub fn grant_error(e: &tokenclock::oauth::GrantError) -> JsValue {
    tc_error(
        e.code(),
        &e.to_string(),
        Details::new().opt_str("what", grant_what(e)),
    )
}

fn grant_what(e: &tokenclock::oauth::GrantError) -> Option<&'static str> {
    use tokenclock::oauth::GrantError as G;
    match e {
        G::InvalidUrl { what }
        | G::InsecureUrl { what }
        | G::EmptyParameter { what }
        | G::InvalidParameter { what }
        | G::TooLarge { what, .. } => Some(*what),
        G::ReservedParameter { name } => Some(*name),
        _ => None,
    }
}

/// The token endpoint's details: `.errorClass`, `.kind`, `.status`, `.oauthError`,
/// `.description`, `.retryAfter`.
fn endpoint_details(d: Details, e: &tokenclock::oauth::TokenEndpointError) -> Details {
    use tokenclock::oauth::TokenEndpointErrorKind as K;
    let (kind, oauth_error, description) = match e.kind() {
        K::OAuth {
            error, description, ..
        } => ("oauth", Some(error.as_str()), description.as_deref()),
        K::Http { .. } => ("http", None, None),
        K::Malformed { .. } => ("malformed", None, None),
        _ => ("other", None, None),
    };
    d.str("errorClass", e.class().as_str())
        .str("kind", kind)
        .num("status", i64::from(e.status()))
        .opt_str("oauthError", oauth_error)
        .opt_str("description", description)
        .opt_str("retryAfter", e.retry_after())
}

/// A token endpoint failure (from `parseTokenResponse`).
pub fn endpoint_error(e: &tokenclock::oauth::TokenEndpointError) -> JsValue {
    tc_error(
        e.code(),
        &e.to_string(),
        endpoint_details(Details::new(), e),
    )
}

/// The authorization redirect: an `authorization_error` carries `.oauthError` and
/// `.description` (sanitised by core).
pub fn redirect_error(e: &tokenclock::oauth::RedirectError) -> JsValue {
    let details = match e {
        tokenclock::oauth::RedirectError::Authorization { error, description } => Details::new()
            .str("oauthError", error)
            .opt_str("description", description.as_deref()),
        _ => Details::new(),
    };
    tc_error(e.code(), &e.to_string(), details)
}

/// A session error: `.retryAtMs` (local wall time of the next attempt, or `null`),
/// `.errorClass` (`permanent`, `invalid_grant`, `transient`, or `null`), the token endpoint's
/// details when it came from there, `.failure` for transport errors.
pub fn session_error(e: &tokenclock::session::SessionError) -> JsValue {
    use tokenclock::session::SessionError as S;
    let mut d = Details::new()
        .opt_num("retryAtMs", e.retry_at().map(|t| t.as_millis()))
        .opt_str("errorClass", e.class().map(|c| c.as_str()));
    match e {
        S::TokenEndpoint { error, .. } => d = endpoint_details(d, error),
        S::Transport { failure, .. } => d = d.str("failure", failure.as_str()),
        S::Grant(g) => d = d.opt_str("what", grant_what(g)),
        _ => {}
    }
    tc_error(e.code(), &e.to_string(), d)
}

/// A verifier error: `.byMs`, `.validInMs`, `.likelyClockSkew`, `.reason`, `.what`, `.claim`,
/// `.kidInToken` as the core variant carries them.
#[cfg(feature = "full")]
pub fn verify_error(e: &tokenclock::verify::VerifyError) -> JsValue {
    use tokenclock::verify::VerifyError as V;
    let d = Details::new().bool("likelyClockSkew", e.likely_clock_skew());
    let d = match e {
        V::Expired { by_ms, .. } | V::IssuedInFuture { by_ms, .. } | V::TooOld { by_ms } => {
            d.num("byMs", *by_ms)
        }
        V::NotYetValid { valid_in_ms, .. } => d.num("validInMs", *valid_in_ms),
        V::MalformedToken { reason, what } => d.str("reason", reason).opt_str("what", *what),
        V::MissingClaim { claim } => d.str("claim", claim),
        V::AlgorithmNotAllowed { alg } | V::KeyAlgorithmMismatch { alg } => {
            d.opt_str("alg", alg.map(|a| a.as_str()))
        }
        V::InvalidKey { reason } | V::InvalidJwks { reason } => d.str("reason", reason),
        V::InvalidConfig { what } => d.str("what", what),
        V::UnknownKid { kid_in_token } => d.bool("kidInToken", *kid_in_token),
        _ => d,
    };
    tc_error(e.code(), &e.to_string(), d)
}

/// A key set error (`KeySet`): `.what` (the option or URL at fault), `.reason` (why a
/// metadata document or key set was refused), `.status` (`http_error`), `.limit`
/// (`too_large`), `.cause` and `.retryInMs` (`keys_unavailable`).
#[cfg(feature = "full")]
pub fn keyset_error(e: &tokenclock::verify::remote::KeySetError) -> JsValue {
    use tokenclock::verify::remote::KeySetError as K;
    let d = Details::new();
    let d = match e {
        K::InvalidConfig { what } | K::InvalidUrl { what } | K::InsecureUrl { what } => {
            d.str("what", what)
        }
        K::InvalidMetadata { reason } => d.str("reason", reason),
        K::InvalidJwks { code } => d.str("reason", code),
        K::HttpStatus { status } => d.num("status", i64::from(*status)),
        K::TooLarge { limit } => d.num("limit", i64::try_from(*limit).unwrap_or(i64::MAX)),
        K::KeysUnavailable { cause, retry_in_ms } => {
            d.str("cause", cause).num("retryInMs", *retry_in_ms)
        }
        _ => d,
    };
    tc_error(e.code(), &e.to_string(), d)
}

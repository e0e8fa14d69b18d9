//! OAuth 2.0 token requests as plain data, and token-endpoint responses parsed and classified.
//!
//! No I/O happens here. [`build_token_request`] turns a [`ClientAuth`] and a [`Grant`] into a
//! [`TokenRequest`] (method, URL, headers, form); the host sends it and hands the status,
//! headers and body back to [`parse_token_response`], which yields a [`TokenResponse`] or a
//! [`TokenEndpointError`] whose [`ErrorClass`] tells the session what to do next
//! (back off and retry; fall back from the refresh token to the primary grant; or, for a
//! configuration error, fail fast and retry only after a long wait).
//! [`Pkce`], [`State`], [`authorization_url`] and [`parse_redirect`] cover the browser half of
//! the authorization-code flow (RFC 7636).
//!
//! Every credential — access, refresh and ID tokens, client secrets, authorization codes, PKCE
//! verifiers, assertions — is held in a [`Secret`], whose `Debug` and `Display` print
//! `Secret(<redacted>)`. Errors never echo one.
//!
//! Signing (`private_key_jwt` client authentication, RFC 7523 §2.2, and the JWT bearer grant,
//! RFC 7523 §2.1) needs the cargo feature `sign`. The time claims of an assertion are written in
//! the *issuer's* clock from an [`IssuerNow`] interval; see [`AssertionTimes`] for how they are
//! chosen so that any issuer time inside the interval accepts the assertion.
//!
//! Submodules (all items are re-exported here):
//! * `form` — `application/x-www-form-urlencoded` encoding and endpoint URL checks;
//! * `request` — client authentication, grants and [`build_token_request`];
//! * `assertion` — assertion time claims (always) and signing (feature `sign`);
//! * `pkce` — PKCE, `state`, the authorization URL and the redirect check;
//! * `response` — token response parsing and error classification.

use core::fmt;

mod assertion;
mod error;
mod form;
mod pkce;
mod request;
mod response;

pub use assertion::{
    AssertionTimes, IssuerNow, DEFAULT_ASSERTION_LIFETIME_S, MAX_ASSERTION_LIFETIME_S,
    MAX_ASSERTION_SPAN_S, MIN_ASSERTION_LIFETIME_S, MIN_ASSERTION_VALIDITY_MS,
};
#[cfg(feature = "sign")]
pub use assertion::{SigningAlg, SigningKey, CLIENT_ASSERTION_LIFETIME_S, MAX_KEY_PEM_LEN};
pub use error::{
    GrantError, MAX_CREDENTIAL_LEN, MAX_EXTRA_PARAMS, MAX_PARAM_LEN, MAX_REQUEST_BODY_LEN,
    MAX_URL_LEN, RESERVED_PARAMETERS,
};
pub use form::form_urlencode;
#[cfg(feature = "verify")]
pub(crate) use form::validate_endpoint;
pub use pkce::{
    authorization_url, parse_redirect, s256_challenge, Pkce, RedirectError, State,
    PKCE_VERIFIER_BYTES, STATE_BYTES,
};
pub use request::{
    build_token_request, build_token_request_with, ClientAuth, FormValue, Grant, RequestOptions,
    TokenRequest, CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE_JWT_BEARER,
    MIN_CLIENT_SECRET_JWT_BYTES,
};
#[cfg(feature = "sign")]
pub use request::{JwtBearerGrant, ScopePlacement};
pub use response::{
    is_valid_access_token, is_valid_refresh_token, parse_token_response,
    parse_token_response_capped, refresh_token_to_keep, ErrorClass, MalformedResponse, OAuthError,
    TokenEndpointError, TokenEndpointErrorKind, TokenResponse, TokenType, MAX_DESCRIPTION_CHARS,
    MAX_EXPIRES_IN_S, MAX_OAUTH_ERROR_CODE_LEN, MAX_RESPONSE_BODY_LEN, MAX_RETRY_AFTER_LEN,
};

/// A credential: a token, refresh token, client secret, authorization code, PKCE verifier,
/// private key or signed assertion.
///
/// `Debug` and `Display` print `Secret(<redacted>)`; the value is reachable only through
/// [`Secret::expose`], so a secret cannot end up in a log line by accident. Equality compares
/// in time independent of where the first difference is. On drop the bytes are overwritten
/// (best effort: copies the host made, e.g. of a request body, are not covered).
#[derive(Clone, Default)]
pub struct Secret(std::sync::Arc<String>);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(std::sync::Arc::new(value.into()))
    }

    /// The credential itself. Call it only where the value must leave the process (a header,
    /// a form field).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (not secret: form encoding and size checks need it).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the credential is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(std::sync::Arc::new(value))
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(std::sync::Arc::new(value.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl Drop for Secret {
    fn drop(&mut self) {
        // Clones share the bytes (a clone is a reference count, so handing a token out on every
        // request costs no copy); the last one to go zeroes them.
        let Some(value) = std::sync::Arc::get_mut(&mut self.0) else {
            return;
        };
        let mut bytes = core::mem::take(value).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        // Keeps the writes from being optimised away as dead stores.
        std::hint::black_box(&bytes);
    }
}

/// Compares two byte strings without an early exit on the first difference (the length is
/// not hidden).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_everywhere() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{s}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(<redacted>))");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.len(), 7);
        assert!(!s.is_empty());
    }

    #[test]
    fn secret_equality() {
        assert_eq!(Secret::new("abc"), Secret::from("abc"));
        assert_ne!(Secret::new("abc"), Secret::new("abd"));
        assert_ne!(Secret::new("abc"), Secret::new("abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}

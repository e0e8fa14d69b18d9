//! The browser half of the authorization-code flow: PKCE (RFC 7636), `state`, the
//! authorization URL (RFC 6749 §4.1.1) and the redirect check (§4.1.2).
//!
//! * [`Pkce::generate`] draws 32 bytes from the caller's RNG: a 43-character base64url
//!   verifier (RFC 7636 §4.1 recommends exactly this) and its `S256` challenge
//!   `BASE64URL(SHA256(ASCII(verifier)))` (§4.2). `plain` is never offered.
//! * [`State::generate`] draws 16 bytes (128 bits, 22 base64url characters).
//! * [`authorization_url`] appends `response_type=code`, `client_id`, `redirect_uri`, `scope`,
//!   `state`, `code_challenge`, `code_challenge_method=S256` and the extra parameters, form-encoded
//!   ([`form_urlencode`]), to an endpoint checked like the token URL; a query already in the
//!   endpoint is kept (§3.1).
//! * [`parse_redirect`] reads the redirect's query and checks `state` **first** (in constant
//!   time), so a forged error response is reported as a state problem, never acted on. Then an
//!   `error` (§4.1.2.1) becomes [`RedirectError::Authorization`], and finally `code` is returned.
//!   A parameter repeated (§3.1: "MUST NOT be included more than once") is malformed.

use core::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::error::{
    check_extra, check_redirect_uri, check_scope, check_text, GrantError, MAX_CREDENTIAL_LEN,
    MAX_PARAM_LEN,
};
use super::form::{form_urldecode, form_urlencode, validate_endpoint};
use super::response::{sanitize_description, sanitize_error_code};
use super::{constant_time_eq, Secret};
use crate::ErrorCode;

/// Random bytes in a generated PKCE verifier (→ 43 base64url characters).
pub const PKCE_VERIFIER_BYTES: usize = 32;
/// Random bytes in a generated `state` (→ 22 base64url characters).
pub const STATE_BYTES: usize = 16;
/// Largest `state` accepted, bytes.
const MAX_STATE_LEN: usize = 512;

/// `n` random bytes from `rng`, base64url without padding.
pub(crate) fn random_b64url(rng: &mut dyn RngCore, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(&bytes)
}

/// The `S256` code challenge of a verifier: `BASE64URL(SHA256(ASCII(verifier)))`
/// (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A PKCE verifier and its `S256` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkce {
    verifier: Secret,
    challenge: String,
}

impl Pkce {
    /// A fresh verifier from 32 random bytes, and its challenge.
    pub fn generate(rng: &mut dyn RngCore) -> Self {
        let verifier = random_b64url(rng, PKCE_VERIFIER_BYTES);
        let challenge = s256_challenge(&verifier);
        Pkce {
            verifier: Secret::new(verifier),
            challenge,
        }
    }

    /// A known verifier (e.g. restored after the redirect), checked per RFC 7636 §4.1:
    /// 43–128 characters of `A–Z a–z 0–9 - . _ ~` → else `invalid_parameter`.
    pub fn from_verifier(verifier: &str) -> Result<Self, GrantError> {
        super::error::check_code_verifier(verifier)?;
        Ok(Pkce {
            verifier: Secret::new(verifier),
            challenge: s256_challenge(verifier),
        })
    }

    /// The verifier, sent with the code to the token endpoint.
    pub fn verifier(&self) -> &Secret {
        &self.verifier
    }

    /// The challenge, sent in the authorization URL.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Always `"S256"`.
    pub const fn method(&self) -> &'static str {
        "S256"
    }
}

/// The `state` parameter that ties a redirect to the authorization request that caused it.
/// `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct State(String);

impl State {
    /// A fresh state from 16 random bytes.
    pub fn generate(rng: &mut dyn RngCore) -> Self {
        State(random_b64url(rng, STATE_BYTES))
    }

    /// A known state (e.g. restored after the redirect): 1–512 printable ASCII characters
    /// (RFC 6749 Appendix A.5) → else `empty_parameter` / `too_large` / `invalid_parameter`.
    pub fn from_value(value: &str) -> Result<Self, GrantError> {
        check_text(value, "state", MAX_STATE_LEN)?;
        if !value.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
            return Err(GrantError::InvalidParameter { what: "state" });
        }
        Ok(State(value.to_owned()))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `received` is this state (constant time in the content).
    pub fn matches(&self, received: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), received.as_bytes())
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("State(<redacted>)")
    }
}

/// Names [`authorization_url`] writes itself.
const AUTHORIZE_RESERVED: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// The URL to send the user's browser to (RFC 6749 §4.1.1 with RFC 7636 §4.3).
///
/// Errors: the endpoint as for the token URL (`invalid_url`, `insecure_url`, `too_large`);
/// `client_id`, `redirect_uri`, `scope` and `extra` as in a token request.
pub fn authorization_url(
    authorize_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: Option<&str>,
    pkce: &Pkce,
    state: &State,
    extra: &[(String, String)],
) -> Result<String, GrantError> {
    validate_endpoint(authorize_endpoint, "authorize_endpoint")?;
    check_text(client_id, "client_id", MAX_PARAM_LEN)?;
    check_redirect_uri(redirect_uri)?;
    if let Some(scope) = scope {
        check_scope(scope)?;
    }
    check_extra(extra, &AUTHORIZE_RESERVED)?;

    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    params.push(("state", state.as_str()));
    params.push(("code_challenge", pkce.challenge()));
    params.push(("code_challenge_method", pkce.method()));
    params.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));

    let mut url = authorize_endpoint.to_owned();
    if !url.contains('?') {
        url.push('?');
    } else if !url.ends_with('?') && !url.ends_with('&') {
        url.push('&');
    }
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            url.push('&');
        }
        url.push_str(&form_urlencode(name));
        url.push('=');
        url.push_str(&form_urlencode(value));
    }
    Ok(url)
}

/// The redirect back from the authorization endpoint was not a usable authorization response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// Too long, a bad percent-escape or invalid UTF-8, or a parameter repeated
    /// (`malformed_redirect`).
    Malformed,
    /// No `state` parameter (`missing_state`).
    MissingState,
    /// `state` is not the one we sent: possible CSRF, drop the response (`state_mismatch`).
    StateMismatch,
    /// The authorization server answered with an error, e.g. `access_denied`
    /// (`authorization_error`).
    Authorization {
        /// The `error` value, sanitised (printable ASCII, at most 64 bytes).
        error: String,
        /// `error_description`, sanitised (printable ASCII, at most 256 characters).
        description: Option<String>,
    },
    /// No (or an empty) `code` parameter (`missing_code`).
    MissingCode,
}

impl ErrorCode for RedirectError {
    fn code(&self) -> &'static str {
        match self {
            RedirectError::Malformed => "malformed_redirect",
            RedirectError::MissingState => "missing_state",
            RedirectError::StateMismatch => "state_mismatch",
            RedirectError::Authorization { .. } => "authorization_error",
            RedirectError::MissingCode => "missing_code",
        }
    }
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::Malformed => f.write_str("redirect query is malformed"),
            RedirectError::MissingState => f.write_str("redirect has no state parameter"),
            RedirectError::StateMismatch => {
                f.write_str("redirect state does not match the request's")
            }
            RedirectError::Authorization {
                error,
                description: Some(d),
            } => {
                write!(f, "authorization server returned {error}: {d}")
            }
            RedirectError::Authorization {
                error,
                description: None,
            } => {
                write!(f, "authorization server returned {error}")
            }
            RedirectError::MissingCode => f.write_str("redirect has no code parameter"),
        }
    }
}

impl std::error::Error for RedirectError {}

/// Reads the authorization response from the redirect: a full URL (`…?code=…&state=…`), a
/// request target (`/callback?…`) or a bare query string. Returns the authorization code.
pub fn parse_redirect(redirect: &str, expected_state: &State) -> Result<Secret, RedirectError> {
    if redirect.len() > MAX_CREDENTIAL_LEN {
        return Err(RedirectError::Malformed);
    }
    let without_fragment = redirect.split('#').next().unwrap_or_default();
    let query = match without_fragment.split_once('?') {
        Some((_, q)) => q,
        None => without_fragment,
    };
    let mut state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = form_urldecode(name).ok_or(RedirectError::Malformed)?;
        let slot = match name.as_str() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        if slot.is_some() {
            return Err(RedirectError::Malformed);
        }
        *slot = Some(form_urldecode(value).ok_or(RedirectError::Malformed)?);
    }
    let state = state.ok_or(RedirectError::MissingState)?;
    if !expected_state.matches(&state) {
        return Err(RedirectError::StateMismatch);
    }
    if let Some(error) = error {
        return Err(RedirectError::Authorization {
            error: sanitize_error_code(&error),
            description: description.as_deref().map(sanitize_description),
        });
    }
    match code {
        Some(code) if !code.is_empty() => Ok(Secret::new(code)),
        _ => Err(RedirectError::MissingCode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn rfc7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(p.method(), "S256");
    }

    #[test]
    fn generated_values() {
        let mut rng = SplitMix64::new(42);
        let p = Pkce::generate(&mut rng);
        assert_eq!(p.verifier().len(), 43);
        assert_eq!(p.challenge(), s256_challenge(p.verifier().expose()));
        assert!(Pkce::from_verifier(p.verifier().expose()).is_ok());
        let s = State::generate(&mut rng);
        assert_eq!(s.as_str().len(), 22);
        assert!(s.matches(s.as_str()));
        assert!(!s.matches("x"));
        assert_eq!(format!("{s:?}"), "State(<redacted>)");
        assert!(!format!("{p:?}").contains(p.verifier().expose()));
    }

    #[test]
    fn verifier_rules() {
        assert!(Pkce::from_verifier(&"a".repeat(42)).is_err());
        assert!(Pkce::from_verifier(&"a".repeat(43)).is_ok());
        assert!(Pkce::from_verifier(&"a".repeat(128)).is_ok());
        assert!(Pkce::from_verifier(&"a".repeat(129)).is_err());
        assert!(Pkce::from_verifier(&format!("{}+", "a".repeat(43))).is_err());
        assert!(State::from_value("").is_err());
        assert!(State::from_value("é").is_err());
    }

    #[test]
    fn redirect_checks() {
        let s = State::from_value("xyz").unwrap();
        assert_eq!(
            parse_redirect("https://app/cb?code=abc&state=xyz", &s)
                .unwrap()
                .expose(),
            "abc"
        );
        assert_eq!(
            parse_redirect("/cb?state=xyz&code=a%2Bb+c#frag", &s)
                .unwrap()
                .expose(),
            "a+b c"
        );
        assert_eq!(
            parse_redirect("code=abc&state=xyz", &s).unwrap().expose(),
            "abc"
        );
        assert_eq!(
            parse_redirect("/cb?code=abc", &s),
            Err(RedirectError::MissingState)
        );
        assert_eq!(
            parse_redirect("/cb?code=abc&state=xy", &s),
            Err(RedirectError::StateMismatch)
        );
        assert_eq!(
            parse_redirect("/cb?error=access_denied&state=evil", &s),
            Err(RedirectError::StateMismatch)
        );
        assert_eq!(
            parse_redirect("/cb?state=xyz", &s),
            Err(RedirectError::MissingCode)
        );
        assert_eq!(
            parse_redirect("/cb?state=xyz&code=", &s),
            Err(RedirectError::MissingCode)
        );
        assert_eq!(
            parse_redirect("/cb?state=xyz&state=xyz&code=a", &s),
            Err(RedirectError::Malformed)
        );
        assert_eq!(
            parse_redirect("/cb?state=xyz&code=%ZZ", &s),
            Err(RedirectError::Malformed)
        );
        assert_eq!(
            parse_redirect(
                "/cb?error=access_denied&error_description=User+said+%22no%22%0A&state=xyz",
                &s
            ),
            Err(RedirectError::Authorization {
                error: "access_denied".into(),
                description: Some("User said \"no\"?".into())
            })
        );
    }
}

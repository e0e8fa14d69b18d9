//! Token endpoint responses (RFC 6749 §5.1, §5.2) parsed, and failures classified.
//!
//! # What is accepted (decisions, in the order they are checked)
//!
//! 1. **Status.** Outside `100..=599` → `invalid_status` (a host bug). `2xx` is read as a
//!    success, anything else as an error response.
//! 2. **Size.** A body over [`MAX_RESPONSE_BODY_LEN`] (1 MiB) is not parsed: `body_too_large`
//!    on `2xx`, a plain [`TokenEndpointErrorKind::Http`] otherwise.
//! 3. **JSON.** One leading UTF-8 byte-order mark is skipped (some .NET servers send one).
//!    `Content-Type` is *not* consulted: a body that is a JSON object is read whatever the
//!    header says (missing, `charset=` parameters, `text/plain`, `text/javascript`), and an HTML
//!    error page from a proxy fails as `invalid_json` whatever it claims. Not JSON →
//!    `invalid_json`; JSON but not an object → `not_json_object` (on non-`2xx`: `Http`).
//! 4. **Duplicates.** Each member this module reads (`access_token`, `token_type`,
//!    `expires_in`, `refresh_token`, `scope`, `id_token`, `error`, `error_description`) may
//!    appear once; two parsers that keep different copies read one response two ways
//!    → `duplicate_field` (on non-`2xx`: `Http`).
//! 5. **Errors (§5.2).** A non-empty string `error` makes the response an error *whatever the
//!    status*, `2xx` included (GitHub answers `200` with `{"error": …}`).
//!    [`OAuthError`] codes are matched exactly (case-sensitive, §5.2); unknown ones are kept
//!    sanitised (`%x20-21 / %x23-5B / %x5D-7E`, others → `?`, at most 64 bytes).
//!    `error_description` is kept if it is a string: printable ASCII only (others → `?`), at
//!    most 256 characters. A non-`2xx` without such an `error` is `Http { status }`.
//! 6. **Success (§5.1)**, lenient where real servers deviate, strict where safety needs it:
//!    * `access_token` — required: absent, `null` or `""` → `missing_access_token`; not a
//!      string, or any character outside visible ASCII `0x21–0x7E` (it goes into an
//!      `Authorization` header: no CR/LF, controls, spaces or non-ASCII) →
//!      `invalid_access_token`. That is wider than RFC 6750's `b64token` on purpose: opaque
//!      tokens with `:` or `%` exist.
//!    * `token_type` — `Bearer` in any case. **Absent or `null` is read as `Bearer`**
//!      (RFC 6749 makes it required, but several servers omit it and a bearer token is the
//!      only kind this crate can use anyway); any other string (`mac`, `DPoP`, `N_A`, `""`)
//!      → `unsupported_token_type` (using a DPoP-bound token as a bearer token fails at every
//!      resource server); not a string → `invalid_field`.
//!    * `expires_in` — a JSON number (integer or fraction) or a string of digits with an
//!      optional fraction (`"3600"`, `"3599.5"`); fractions are floored to the millisecond.
//!      Absent or `null` → `None` (the session then assumes a lifetime). Zero, negative,
//!      above [`MAX_EXPIRES_IN_S`] (365 days), a string in any other shape, or another type →
//!      `invalid_expires_in`: a token that says it is already dead or lives for years is a
//!      server bug, and guessing would hide it.
//!    * `refresh_token` — absent, `null` or `""` → `None` (keep the old one, see
//!      [`refresh_token_to_keep`]); a string with control characters or another type →
//!      `invalid_field`.
//!    * `id_token` — absent or `null` → `None`; a string of visible ASCII, else
//!      `invalid_field`. Not verified here.
//!    * `scope` — a string (kept as is, control characters → `invalid_field`) or an array of
//!      strings (joined with spaces; some servers send one); absent or `null` → `None`.
//!    * Any other member is ignored.
//!
//! # Classification ([`ErrorClass`])
//!
//! One odd answer must never end a session for good: only the authorization server saying, in
//! a readable OAuth error, that the configuration is wrong stops the retries for long.
//!
//! * `invalid_grant` → [`ErrorClass::InvalidGrant`]: the refresh token (or code, or
//!   assertion) was refused; the session drops a refresh token and falls back to its primary
//!   grant if there is one (on a primary grant it is a configuration error, as below).
//! * `invalid_client` (whether it came with 400 or with the 401 that §5.2 requires after Basic
//!   authentication), `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`,
//!   `invalid_request` (we send well-formed requests, so it means misconfiguration), and
//!   unknown codes on any status but 408, 429 and 5xx (4xx, and 2xx: GitHub's `200` with an
//!   `error`) → [`ErrorClass::Permanent`]: a configuration fix is needed. The session fails
//!   callers without a valid token at once, and asks again only after
//!   [`BackoffPolicy::config_retry_ms`](crate::session::BackoffPolicy::config_retry_ms).
//! * Everything else → [`ErrorClass::Transient`]: back off (full jitter, `Retry-After`
//!   honoured) and retry. That is `temporarily_unavailable`, `server_error` (§4.1.2.1, also
//!   sent by token endpoints) and unknown codes on 408, 429 and 5xx; **every** HTTP error
//!   without a readable OAuth `error` whatever its status (a WAF's HTML 403, a 301 to a
//!   trailing slash, a 404 while the issuer deploys, a proxy's 401 without a body: none of
//!   them is the authorization server's word); and every [`MalformedResponse`] (a body that
//!   is not JSON, a success without `access_token`, with `token_type: DPoP`, a bad
//!   `expires_in`, duplicate members, ...): a half-deployed or misrouted server answers like
//!   that for a while, and the retries are bounded by the backoff.
//!
//! `Retry-After` is kept raw (trimmed, printable ASCII, at most 64 bytes, else dropped) on
//! every error; the session parses it (seconds or HTTP-date).

use core::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::Secret;
use crate::ErrorCode;

/// Largest response body parsed, bytes.
pub const MAX_RESPONSE_BODY_LEN: usize = 1024 * 1024;
/// Largest `expires_in` accepted, seconds (365 days).
pub const MAX_EXPIRES_IN_S: i64 = 365 * 24 * 3_600;
/// Longest `error_description` kept, characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Longest unknown `error` code kept, bytes.
pub const MAX_OAUTH_ERROR_CODE_LEN: usize = 64;
/// Longest `Retry-After` value kept, bytes.
pub const MAX_RETRY_AFTER_LEN: usize = 64;

/// Members read from a response; each may appear once.
const KNOWN_FIELDS: [&str; 8] = [
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "id_token",
    "error",
    "error_description",
];

/// The kind of access token (only bearer tokens are usable here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenType {
    /// RFC 6750 bearer token.
    Bearer,
}

impl TokenType {
    /// `"Bearer"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenType::Bearer => "Bearer",
        }
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token (visible ASCII only).
    pub access_token: Secret,
    /// Always [`TokenType::Bearer`].
    pub token_type: TokenType,
    /// `expires_in` in milliseconds (positive, at most 365 days), if given.
    pub expires_in_ms: Option<i64>,
    /// A new refresh token, if given.
    pub refresh_token: Option<Secret>,
    /// The granted scope, if given.
    pub scope: Option<String>,
    /// An OpenID Connect ID token, if given (not verified).
    pub id_token: Option<Secret>,
}

impl TokenResponse {
    /// The `Authorization` header value: `Bearer <access token>`.
    pub fn authorization_header(&self) -> Secret {
        Secret::new(format!(
            "{} {}",
            self.token_type.as_str(),
            self.access_token.expose()
        ))
    }
}

/// Which refresh token to keep after a response (rotation, RFC 6749 §6): the new one when
/// the response has one, else the previous one.
pub fn refresh_token_to_keep(
    previous: Option<&Secret>,
    response: &TokenResponse,
) -> Option<Secret> {
    response.refresh_token.clone().or_else(|| previous.cloned())
}

/// An RFC 6749 §5.2 `error` code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthError {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `temporarily_unavailable` (§4.1.2.1; also used by token endpoints).
    TemporarilyUnavailable,
    /// `server_error` (§4.1.2.1; also used by token endpoints).
    ServerError,
    /// Any other code, sanitised (see the module docs).
    Other(String),
}

impl OAuthError {
    /// Reads a code (exact, case-sensitive match; others become [`OAuthError::Other`]).
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => OAuthError::InvalidRequest,
            "invalid_client" => OAuthError::InvalidClient,
            "invalid_grant" => OAuthError::InvalidGrant,
            "unauthorized_client" => OAuthError::UnauthorizedClient,
            "unsupported_grant_type" => OAuthError::UnsupportedGrantType,
            "invalid_scope" => OAuthError::InvalidScope,
            "temporarily_unavailable" => OAuthError::TemporarilyUnavailable,
            "server_error" => OAuthError::ServerError,
            other => OAuthError::Other(sanitize_error_code(other)),
        }
    }

    /// The code as the server sent it (sanitised for [`OAuthError::Other`]).
    pub fn as_str(&self) -> &str {
        match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthError::ServerError => "server_error",
            OAuthError::Other(s) => s,
        }
    }
}

/// What was wrong with a response that is neither a success nor an OAuth error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MalformedResponse {
    /// Status outside `100..=599` (`invalid_status`).
    InvalidStatus,
    /// Body over 1 MiB (`body_too_large`).
    BodyTooLarge,
    /// Not JSON, or not UTF-8 (`invalid_json`).
    InvalidJson,
    /// JSON, but not an object (`not_json_object`).
    NotAnObject,
    /// A member this module reads appears twice (`duplicate_field`).
    DuplicateField(&'static str),
    /// No usable `access_token` (`missing_access_token`).
    MissingAccessToken,
    /// `access_token` not a string of visible ASCII (`invalid_access_token`).
    InvalidAccessToken,
    /// `token_type` is not `Bearer` (`unsupported_token_type`).
    UnsupportedTokenType,
    /// `expires_in` not a positive number of seconds up to 365 days (`invalid_expires_in`).
    InvalidExpiresIn,
    /// Another member has the wrong type or characters (`invalid_field`).
    InvalidField(&'static str),
}

impl MalformedResponse {
    const fn code(self) -> &'static str {
        match self {
            MalformedResponse::InvalidStatus => "invalid_status",
            MalformedResponse::BodyTooLarge => "body_too_large",
            MalformedResponse::InvalidJson => "invalid_json",
            MalformedResponse::NotAnObject => "not_json_object",
            MalformedResponse::DuplicateField(_) => "duplicate_field",
            MalformedResponse::MissingAccessToken => "missing_access_token",
            MalformedResponse::InvalidAccessToken => "invalid_access_token",
            MalformedResponse::UnsupportedTokenType => "unsupported_token_type",
            MalformedResponse::InvalidExpiresIn => "invalid_expires_in",
            MalformedResponse::InvalidField(_) => "invalid_field",
        }
    }
}

impl fmt::Display for MalformedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedResponse::InvalidStatus => f.write_str("status is not an HTTP status code"),
            MalformedResponse::BodyTooLarge => {
                f.write_str("body is larger than the token response limit (at most 1 MiB)")
            }
            MalformedResponse::InvalidJson => f.write_str("body is not JSON"),
            MalformedResponse::NotAnObject => f.write_str("body is not a JSON object"),
            MalformedResponse::DuplicateField(name) => write!(f, "{name} appears more than once"),
            MalformedResponse::MissingAccessToken => {
                f.write_str("access_token is missing or empty")
            }
            MalformedResponse::InvalidAccessToken => {
                f.write_str("access_token is not a string of visible ASCII characters")
            }
            MalformedResponse::UnsupportedTokenType => f.write_str("token_type is not Bearer"),
            MalformedResponse::InvalidExpiresIn => {
                write!(
                    f,
                    "expires_in is not a positive number of seconds up to {MAX_EXPIRES_IN_S}"
                )
            }
            MalformedResponse::InvalidField(name) => {
                write!(f, "{name} has the wrong type or characters")
            }
        }
    }
}

/// How the session should react to a failed token request (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Needs a configuration fix (`invalid_client`, `invalid_scope`, ...): callers without a
    /// valid token fail fast, and the session asks again only after
    /// [`BackoffPolicy::config_retry_ms`](crate::session::BackoffPolicy::config_retry_ms)
    /// (or a longer `Retry-After`). Never "dead until restart".
    Permanent,
    /// The grant was refused (`invalid_grant`): a refresh token is dropped and the session
    /// falls back to the primary grant if there is one, else it needs a new authorization;
    /// on a primary grant (client credentials, JWT bearer) it is handled as [`Permanent`].
    ///
    /// [`Permanent`]: ErrorClass::Permanent
    InvalidGrant,
    /// Back off (full jitter, honouring `Retry-After`) and retry.
    Transient,
}

impl ErrorClass {
    /// `"permanent"`, `"invalid_grant"` or `"transient"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Permanent => "permanent",
            ErrorClass::InvalidGrant => "invalid_grant",
            ErrorClass::Transient => "transient",
        }
    }
}

/// What went wrong at the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEndpointErrorKind {
    /// An RFC 6749 §5.2 error response.
    OAuth {
        /// The `error` code.
        error: OAuthError,
        /// `error_description`, sanitised.
        description: Option<String>,
        /// HTTP status.
        status: u16,
    },
    /// A non-2xx status without a readable OAuth error.
    Http {
        /// HTTP status.
        status: u16,
    },
    /// A 2xx response (or a bad status) that could not be used.
    Malformed {
        /// What was wrong.
        what: MalformedResponse,
        /// HTTP status.
        status: u16,
    },
}

/// A token request failed. [`TokenEndpointError::class`] says what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenEndpointError {
    kind: TokenEndpointErrorKind,
    retry_after: Option<String>,
}

impl TokenEndpointError {
    /// What went wrong.
    pub fn kind(&self) -> &TokenEndpointErrorKind {
        &self.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match &self.kind {
            TokenEndpointErrorKind::OAuth { status, .. }
            | TokenEndpointErrorKind::Http { status }
            | TokenEndpointErrorKind::Malformed { status, .. } => *status,
        }
    }

    /// The raw `Retry-After` header value (trimmed), if the response had a usable one.
    pub fn retry_after(&self) -> Option<&str> {
        self.retry_after.as_deref()
    }

    /// Permanent (configuration), invalid grant, or transient (see the module docs).
    pub fn class(&self) -> ErrorClass {
        match &self.kind {
            TokenEndpointErrorKind::OAuth { error, status, .. } => match error {
                OAuthError::InvalidGrant => ErrorClass::InvalidGrant,
                OAuthError::TemporarilyUnavailable | OAuthError::ServerError => {
                    ErrorClass::Transient
                }
                OAuthError::InvalidRequest
                | OAuthError::InvalidClient
                | OAuthError::UnauthorizedClient
                | OAuthError::UnsupportedGrantType
                | OAuthError::InvalidScope => ErrorClass::Permanent,
                OAuthError::Other(_) => unknown_code_class(*status),
            },
            // Not the authorization server's word (a proxy, a WAF, a redirect, a deploy), or
            // an answer a fixed server will not give again: retrying is the only way to know.
            TokenEndpointErrorKind::Http { .. } | TokenEndpointErrorKind::Malformed { .. } => {
                ErrorClass::Transient
            }
        }
    }
}

/// An OAuth `error` code we do not know: the status says whether the server is overloaded
/// (408, 429, 5xx) or refusing the request as configured.
fn unknown_code_class(status: u16) -> ErrorClass {
    match status {
        408 | 429 | 500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

impl ErrorCode for TokenEndpointError {
    /// The OAuth code for the eight known ones, `oauth_error` for others, `http_error`, or
    /// the [`MalformedResponse`] code.
    fn code(&self) -> &'static str {
        match &self.kind {
            TokenEndpointErrorKind::OAuth { error, .. } => match error {
                OAuthError::InvalidRequest => "invalid_request",
                OAuthError::InvalidClient => "invalid_client",
                OAuthError::InvalidGrant => "invalid_grant",
                OAuthError::UnauthorizedClient => "unauthorized_client",
                OAuthError::UnsupportedGrantType => "unsupported_grant_type",
                OAuthError::InvalidScope => "invalid_scope",
                OAuthError::TemporarilyUnavailable => "temporarily_unavailable",
                OAuthError::ServerError => "server_error",
                OAuthError::Other(_) => "oauth_error",
            },
            TokenEndpointErrorKind::Http { .. } => "http_error",
            TokenEndpointErrorKind::Malformed { what, .. } => what.code(),
        }
    }
}

impl fmt::Display for TokenEndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TokenEndpointErrorKind::OAuth {
                error,
                description,
                status,
            } => {
                write!(
                    f,
                    "token endpoint returned {} (HTTP {status})",
                    error.as_str()
                )?;
                if let Some(d) = description {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            TokenEndpointErrorKind::Http { status } => {
                write!(
                    f,
                    "token endpoint returned HTTP {status} without an OAuth error"
                )
            }
            TokenEndpointErrorKind::Malformed { what, status } => {
                write!(
                    f,
                    "token endpoint response (HTTP {status}) is unusable: {what}"
                )
            }
        }
    }
}

impl std::error::Error for TokenEndpointError {}

/// Replaces characters outside RFC 6749's `error` set (`%x20-21 / %x23-5B / %x5D-7E`) with
/// `?` and caps the result at 64 bytes.
pub(crate) fn sanitize_error_code(code: &str) -> String {
    code.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .take(MAX_OAUTH_ERROR_CODE_LEN)
        .collect()
}

/// Replaces characters outside printable ASCII with `?` and caps the result at 256 characters.
pub(crate) fn sanitize_description(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(MAX_DESCRIPTION_CHARS)
        .collect()
}

/// The first `Retry-After` header, trimmed; dropped when empty, over 64 bytes or not
/// printable ASCII.
fn retry_after(headers: &[(String, String)]) -> Option<String> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("retry-after"))?;
    let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
    let usable = !value.is_empty()
        && value.len() <= MAX_RETRY_AFTER_LEN
        && value.bytes().all(|b| (0x20..=0x7E).contains(&b));
    usable.then(|| value.to_owned())
}

/// A JSON object's members in document order, duplicates kept.
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

impl Members {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn first_duplicate(&self) -> Option<&'static str> {
        KNOWN_FIELDS
            .into_iter()
            .find(|known| self.0.iter().filter(|(n, _)| n == known).count() > 1)
    }
}

/// Parses a token endpoint response: the host hands in the status, the headers and the raw
/// body. See the module docs for every rule.
pub fn parse_token_response(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<TokenResponse, TokenEndpointError> {
    parse_token_response_capped(status, headers, body, MAX_RESPONSE_BODY_LEN)
}

/// [`parse_token_response`] with a lower body limit (`max_body_len`, at most
/// [`MAX_RESPONSE_BODY_LEN`]): a longer body is `body_too_large` (the session's
/// `SessionConfig::max_token_response_len`).
pub fn parse_token_response_capped(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    max_body_len: usize,
) -> Result<TokenResponse, TokenEndpointError> {
    let retry_after = retry_after(headers);
    let fail = |kind| {
        Err(TokenEndpointError {
            kind,
            retry_after: retry_after.clone(),
        })
    };
    let malformed = |what| fail(TokenEndpointErrorKind::Malformed { what, status });

    if !(100..=599).contains(&status) {
        return malformed(MalformedResponse::InvalidStatus);
    }
    let success = (200..=299).contains(&status);
    let http = || fail(TokenEndpointErrorKind::Http { status });

    if body.len() > max_body_len.min(MAX_RESPONSE_BODY_LEN) {
        return if success {
            malformed(MalformedResponse::BodyTooLarge)
        } else {
            http()
        };
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let members = match serde_json::from_slice::<Members>(body) {
        Ok(m) => m,
        Err(e) if !success => {
            let _ = e;
            return http();
        }
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return malformed(MalformedResponse::NotAnObject);
        }
        Err(_) => return malformed(MalformedResponse::InvalidJson),
    };
    if let Some(name) = members.first_duplicate() {
        return if success {
            malformed(MalformedResponse::DuplicateField(name))
        } else {
            http()
        };
    }

    if let Some(Value::String(code)) = members.get("error") {
        if !code.is_empty() {
            let description = match members.get("error_description") {
                Some(Value::String(d)) => Some(sanitize_description(d)),
                _ => None,
            };
            return fail(TokenEndpointErrorKind::OAuth {
                error: OAuthError::parse(code),
                description,
                status,
            });
        }
    }
    if !success {
        return http();
    }
    read_success(&members).or_else(malformed)
}

/// Whether `s` is an access token a response may carry: non-empty visible ASCII (`0x21–0x7E`),
/// as it goes into an `Authorization` header. Shared records are held to the same rule.
pub fn is_valid_access_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// Whether `s` is a refresh token a response may carry: non-empty, no control characters.
pub fn is_valid_refresh_token(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_control)
}

fn read_success(members: &Members) -> Result<TokenResponse, MalformedResponse> {
    let access_token = match members.get("access_token") {
        None | Some(Value::Null) => return Err(MalformedResponse::MissingAccessToken),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(MalformedResponse::MissingAccessToken)
        }
        Some(Value::String(s)) if is_valid_access_token(s) => Secret::new(s.as_str()),
        Some(_) => return Err(MalformedResponse::InvalidAccessToken),
    };
    let token_type = match members.get("token_type") {
        None | Some(Value::Null) => TokenType::Bearer,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("bearer") => TokenType::Bearer,
        Some(Value::String(_)) => return Err(MalformedResponse::UnsupportedTokenType),
        Some(_) => return Err(MalformedResponse::InvalidField("token_type")),
    };
    let expires_in_ms = match members.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(v) => Some(expires_in_ms(v).ok_or(MalformedResponse::InvalidExpiresIn)?),
    };
    let refresh_token = match members.get("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if is_valid_refresh_token(s) => Some(Secret::new(s.as_str())),
        Some(_) => return Err(MalformedResponse::InvalidField("refresh_token")),
    };
    let id_token = match members.get("id_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s))
            if !s.is_empty() && s.bytes().all(|b| (0x21..=0x7E).contains(&b)) =>
        {
            Some(Secret::new(s.as_str()))
        }
        Some(_) => return Err(MalformedResponse::InvalidField("id_token")),
    };
    let scope = match members.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.chars().any(char::is_control) => Some(s.clone()),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s)
                        if !s.is_empty() && !s.chars().any(|c| c.is_control() || c == ' ') =>
                    {
                        parts.push(s.as_str());
                    }
                    _ => return Err(MalformedResponse::InvalidField("scope")),
                }
            }
            Some(parts.join(" "))
        }
        Some(_) => return Err(MalformedResponse::InvalidField("scope")),
    };
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in_ms,
        refresh_token,
        scope,
        id_token,
    })
}

/// `expires_in` in milliseconds: positive, at most [`MAX_EXPIRES_IN_S`], floored.
fn expires_in_ms(v: &Value) -> Option<i64> {
    let ms = match v {
        Value::Number(n) => {
            if let Some(secs) = n.as_i64() {
                if !(1..=MAX_EXPIRES_IN_S).contains(&secs) {
                    return None;
                }
                secs.checked_mul(1_000)?
            } else {
                let secs = n.as_f64()?;
                // JSON cannot carry NaN; the range check would refuse it anyway.
                if !(f64::MIN_POSITIVE..=MAX_EXPIRES_IN_S as f64).contains(&secs) {
                    return None;
                }
                // Bounded above, so the cast cannot saturate.
                (secs * 1_000.0).floor() as i64
            }
        }
        Value::String(s) => decimal_seconds_to_ms(s)?,
        _ => return None,
    };
    (1..=MAX_EXPIRES_IN_S.saturating_mul(1_000))
        .contains(&ms)
        .then_some(ms)
}

/// `digits [ "." digits ]` → milliseconds, floored. At most 32 characters.
fn decimal_seconds_to_ms(s: &str) -> Option<i64> {
    if s.len() > 32 {
        return None;
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || !frac_part.is_none_or(all_digits) {
        return None;
    }
    let mut secs: i64 = 0;
    for b in int_part.bytes() {
        secs = secs.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        if secs > MAX_EXPIRES_IN_S {
            return None;
        }
    }
    let mut ms: i64 = 0;
    let mut scale = 100;
    for b in frac_part.unwrap_or_default().bytes().take(3) {
        ms += i64::from(b - b'0') * scale;
        scale /= 10;
    }
    secs.checked_mul(1_000)?.checked_add(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> TokenResponse {
        parse_token_response(200, &[], body.as_bytes()).unwrap()
    }

    #[test]
    fn minimal_success() {
        let r = ok(r#"{"access_token":"abc","token_type":"bearer","expires_in":"60"}"#);
        assert_eq!(r.access_token.expose(), "abc");
        assert_eq!(r.expires_in_ms, Some(60_000));
        assert_eq!(r.authorization_header().expose(), "Bearer abc");
        assert!(!format!("{r:?}").contains("abc"));
    }

    #[test]
    fn decimal_strings() {
        assert_eq!(decimal_seconds_to_ms("3599.9999"), Some(3_599_999));
        assert_eq!(decimal_seconds_to_ms("0.5"), Some(500));
        assert_eq!(decimal_seconds_to_ms("00060"), Some(60_000));
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "+1",
            " 1",
            "1e3",
            "1_0",
            "99999999999999999999",
        ] {
            assert_eq!(decimal_seconds_to_ms(bad), None, "{bad}");
        }
        assert_eq!(expires_in_ms(&Value::from("0.0001")), None);
        assert_eq!(expires_in_ms(&Value::from(0.0001)), None);
        assert_eq!(expires_in_ms(&Value::from(u64::MAX)), None);
        assert_eq!(
            expires_in_ms(&Value::from(MAX_EXPIRES_IN_S)),
            Some(MAX_EXPIRES_IN_S * 1_000)
        );
    }

    #[test]
    fn classes_and_codes() {
        let e = parse_token_response(401, &[], br#"{"error":"invalid_client"}"#).unwrap_err();
        assert_eq!(
            (e.code(), e.class(), e.status()),
            ("invalid_client", ErrorClass::Permanent, 401)
        );
        assert_eq!(
            e.to_string(),
            "token endpoint returned invalid_client (HTTP 401)"
        );
        let e = parse_token_response(503, &[("Retry-After".into(), " 30 ".into())], b"<html>")
            .unwrap_err();
        assert_eq!(
            (e.code(), e.class(), e.retry_after()),
            ("http_error", ErrorClass::Transient, Some("30"))
        );
        let e = parse_token_response(99, &[], b"{}").unwrap_err();
        assert_eq!(
            (e.code(), e.class()),
            ("invalid_status", ErrorClass::Transient)
        );
        assert_eq!(sanitize_error_code("a\"b\\c\u{e9}"), "a?b?c?");
        assert_eq!(
            sanitize_description(&"x".repeat(300)).len(),
            MAX_DESCRIPTION_CHARS
        );
    }

    #[test]
    fn http_errors_without_an_oauth_error_are_transient_whatever_the_status() {
        // A WAF's HTML 403, a redirect to a trailing slash, a 404 during a deploy, a proxy's
        // bare 401: none is the authorization server's word.
        let cases: [(u16, &[u8]); 9] = [
            (403, b"<html><body>Request blocked</body></html>"),
            (301, b""),
            (302, b""),
            (404, b"<html>Not Found</html>"),
            (401, b""),
            (400, br#"{"message":"bad"}"#),
            (405, b"Method Not Allowed"),
            (418, br#"{"error":""}"#),
            (
                400,
                br#"{"error":"invalid_grant","error":"invalid_client"}"#,
            ),
        ];
        for (status, body) in cases {
            let e = parse_token_response(status, &[], body).unwrap_err();
            assert_eq!(
                (e.code(), e.class()),
                ("http_error", ErrorClass::Transient),
                "{status}"
            );
        }
    }

    #[test]
    fn every_malformed_success_is_transient() {
        for (body, code) in [
            (r#"{"token_type":"Bearer"}"#, "missing_access_token"),
            (
                r#"{"access_token":"a","token_type":"DPoP"}"#,
                "unsupported_token_type",
            ),
            (
                r#"{"access_token":"a","expires_in":0}"#,
                "invalid_expires_in",
            ),
            (
                r#"{"access_token":"a","access_token":"b"}"#,
                "duplicate_field",
            ),
            (r#"{"access_token":"a b"}"#, "invalid_access_token"),
            (r#"{"access_token":"a","scope":{}}"#, "invalid_field"),
            ("<html>", "invalid_json"),
        ] {
            let e = parse_token_response(200, &[], body.as_bytes()).unwrap_err();
            assert_eq!(
                (e.code(), e.class()),
                (code, ErrorClass::Transient),
                "{body}"
            );
        }
    }

    #[test]
    fn configuration_errors_are_permanent() {
        for (status, code) in [
            (401, "invalid_client"),
            (400, "invalid_client"),
            (400, "unauthorized_client"),
            (400, "invalid_scope"),
            (400, "invalid_request"),
            (400, "unsupported_grant_type"),
        ] {
            let body = format!(r#"{{"error":"{code}"}}"#);
            let e = parse_token_response(status, &[], body.as_bytes()).unwrap_err();
            assert_eq!((e.code(), e.class()), (code, ErrorClass::Permanent));
        }
        // Unknown codes: the status decides.
        for (status, class) in [
            (400, ErrorClass::Permanent),
            (403, ErrorClass::Permanent),
            (200, ErrorClass::Permanent),
            (408, ErrorClass::Transient),
            (429, ErrorClass::Transient),
            (503, ErrorClass::Transient),
        ] {
            let e = parse_token_response(status, &[], br#"{"error":"slow_down"}"#).unwrap_err();
            assert_eq!((e.code(), e.class()), ("oauth_error", class), "{status}");
        }
        let e = parse_token_response(400, &[], br#"{"error":"invalid_grant"}"#).unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidGrant);
    }

    proptest::proptest! {
        /// Only a readable OAuth `error` can make a failure anything but transient.
        #[test]
        fn without_an_oauth_error_every_failure_is_transient(status in 0u16..700, body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Err(e) = parse_token_response(status, &[], &body) {
                if !matches!(e.kind(), TokenEndpointErrorKind::OAuth { .. }) {
                    proptest::prop_assert_eq!(e.class(), ErrorClass::Transient);
                }
            }
        }

        /// Never panics, and a success always holds a header-safe token and a sane lifetime.
        #[test]
        fn never_panics(status in 0u16..700, body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(r) = parse_token_response(status, &[], &body) {
                proptest::prop_assert!((200..=299).contains(&status));
                proptest::prop_assert!(r.access_token.expose().bytes().all(|b| (0x21..=0x7E).contains(&b)));
                proptest::prop_assert!(r.expires_in_ms.is_none_or(|ms| ms > 0 && ms <= MAX_EXPIRES_IN_S * 1_000));
            }
        }

        /// JSON-shaped bodies with arbitrary member values exercise the field readers.
        #[test]
        fn field_readers_never_panic(token in ".{0,20}", exp in proptest::num::f64::ANY, tt in ".{0,8}") {
            let body = serde_json::json!({"access_token": token, "expires_in": exp, "token_type": tt});
            let _ = parse_token_response(200, &[], body.to_string().as_bytes());
            let body = serde_json::json!({"access_token": "a", "expires_in": token.clone()});
            let _ = parse_token_response(200, &[], body.to_string().as_bytes());
        }
    }

    #[test]
    fn rotation() {
        let mut r = ok(r#"{"access_token":"a"}"#);
        let old = Secret::new("old");
        assert_eq!(refresh_token_to_keep(Some(&old), &r), Some(old.clone()));
        assert_eq!(refresh_token_to_keep(None, &r), None);
        r.refresh_token = Some(Secret::new("new"));
        assert_eq!(
            refresh_token_to_keep(Some(&old), &r),
            Some(Secret::new("new"))
        );
    }
}

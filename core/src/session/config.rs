//! What a session is configured with.

use crate::lifetime::LifetimePolicy;
use crate::oauth::{ClientAuth, Grant, MAX_RESPONSE_BODY_LEN};
use crate::skew::SkewConfig;

/// Identifies one access token held by a session (never the token itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub u64);

/// Identifies one refresh ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(pub u64);

/// How long the session stays away from a failing token endpoint: exponential backoff with
/// full jitter for transient failures, and one long fixed wait for configuration errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// First delay bound (default 1 s).
    pub base_ms: i64,
    /// Largest delay bound (default 60 s).
    pub cap_ms: i64,
    /// Longest `Retry-After` honoured (default 10 min); longer ones are cut to this.
    pub max_retry_after_ms: i64,
    /// Wait after a configuration error ([`ErrorClass::Permanent`]: `invalid_client`,
    /// `invalid_scope`, ...; `invalid_grant` on a primary grant) before the token endpoint is
    /// asked again (default 5 min; 1 s to 1 day, at least `base_ms`). A longer `Retry-After` is
    /// honoured up to `max_retry_after_ms`. Not jittered: one request per wait is already a
    /// trickle, and the fix (a rotated secret, a granted scope) is picked up without a restart.
    pub config_retry_ms: i64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base_ms: 1_000,
            cap_ms: 60_000,
            max_retry_after_ms: 600_000,
            config_retry_ms: 300_000,
        }
    }
}

/// How a session obtains and keeps tokens.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The token endpoint.
    pub token_url: String,
    /// Client authentication at the token endpoint.
    pub auth: ClientAuth,
    /// The primary grant (client credentials, JWT bearer, an authorization code used once,
    /// or a refresh token the host already holds).
    pub grant: Grant,
    /// The expiry decision's knobs.
    pub policy: LifetimePolicy,
    /// Backoff for transient failures.
    pub backoff: BackoffPolicy,
    /// Skew estimators' configuration (issuer and resource server).
    pub skew: SkewConfig,
    /// A ticket not closed within this time is abandoned and a new one may be issued
    /// (default 60 s): a caller that died mid-refresh cannot wedge the session.
    pub ticket_timeout_ms: i64,
    /// Longest wait before retrying a request whose token the resource server rejected as
    /// not yet valid on its (slow) clock (default 10 s).
    pub max_401_wait_ms: i64,
    /// Longest a token request may take in total: connect, send and every byte of the answer
    /// (default 10 s; 1 ms to 10 min; keep it below `ticket_timeout_ms`). Hosts bound every token
    /// request by it (with a fleet store also by two thirds of the lease); past it they close
    /// the ticket with [`TransportFailure::Timeout`].
    pub token_timeout_ms: i64,
    /// Largest token response body read, after decoding (default and at most
    /// [`MAX_RESPONSE_BODY_LEN`], 1 MiB). Hosts stop reading past it and pass on the first
    /// `max_token_response_len + 1` bytes; the session answers `body_too_large`.
    pub max_token_response_len: usize,
    /// Token requests one API call performs at most (default 1; the same in every host): a
    /// caller whose refresh failed reports that failure instead of performing another one or
    /// sitting out the backoff it started.
    pub refreshes_per_call: u32,
    /// Whose token this is, for a shared store: a user or tenant id the configuration itself
    /// does not name. Part of the [`CredentialIdentity`]; required to share the tokens of
    /// user-delegated grants (authorization code, refresh token). Default none.
    pub partition: Option<String>,
    /// Accept a plain `http://` token URL to a host that is not loopback (default `false`):
    /// [`RequestOptions::allow_insecure_http`](crate::oauth::RequestOptions). Credentials travel
    /// in clear; only for identity providers on a private network. Not part of the
    /// [`CredentialIdentity`].
    pub allow_insecure_http: bool,
}

impl SessionConfig {
    /// The [`RequestOptions`](crate::oauth::RequestOptions) token requests are built with.
    pub fn request_options(&self) -> crate::oauth::RequestOptions {
        crate::oauth::RequestOptions {
            allow_insecure_http: self.allow_insecure_http,
        }
    }

    /// A configuration with every default, for the given endpoint, client and grant.
    pub fn new(token_url: impl Into<String>, auth: ClientAuth, grant: Grant) -> Self {
        SessionConfig {
            token_url: token_url.into(),
            auth,
            grant,
            policy: LifetimePolicy::default(),
            backoff: BackoffPolicy::default(),
            skew: SkewConfig::default(),
            ticket_timeout_ms: 60_000,
            max_401_wait_ms: 10_000,
            token_timeout_ms: 10_000,
            max_token_response_len: MAX_RESPONSE_BODY_LEN,
            refreshes_per_call: 1,
            partition: None,
            allow_insecure_http: false,
        }
    }
}

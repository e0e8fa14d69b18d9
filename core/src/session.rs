//! The refresh state machine: one [`Session`] per credential and audience.
//!
//! Sans-I/O and poll style (after quinn-proto's `Connection`). The host calls four kinds of
//! methods, always passing the current [`Reading`]:
//!
//! * **commands** — [`authorize`](Session::authorize) before every API request: the answer
//!   ([`Authorization`]) says whether to send the request now and with which header, whether
//!   this caller must perform the single outstanding refresh (it gets a [`Ticket`] with the
//!   token request as data), or whether to wait;
//! * **inputs** — [`complete_refresh`](Session::complete_refresh) /
//!   [`fail_refresh`](Session::fail_refresh) close a ticket;
//!   [`on_response`](Session::on_response) takes every API response (its `Date` header feeds the
//!   resource server's skew estimate; a 401 gets a [`Verdict`]);
//!   [`after_response`](Session::after_response) is the same input for adapters, answering
//!   what to do with the response ([`AfterResponse`]: return it, retry once, raise);
//! * **outputs** — [`next_timeout`](Session::next_timeout) (when the session next wants
//!   attention) and [`poll_event`](Session::poll_event) (what happened, for logs and timelines);
//! * **getters** — [`stats`](Session::stats), [`estimates`](Session::estimates).
//!
//! Every decision is made in [`Session::authorize`] and the three inputs, in this one file;
//! the transition rules are listed on each of them. Nothing here ever formats a token or a
//! secret: they are [`Secret`]s and `Debug` redacts them.

use crate::httpdate::{parse_http_date, parse_retry_after, RetryAfter};
use crate::identity::{is_user_delegated, CredentialIdentity, IdentityError};
use crate::lifetime::{Lifetime, LifetimeError, LifetimePolicy, TokenState, TokenTimes};
use crate::oauth::{
    build_token_request, parse_token_response_capped, ClientAuth, ErrorClass, Grant, GrantError,
    IssuerNow, Secret, TokenEndpointError, TokenRequest, MAX_RESPONSE_BODY_LEN,
};
use crate::peek::peek;
use crate::rng::below;
use crate::skew::{Estimate, Sample, SkewConfig, SkewEstimator};
use crate::time::{Reading, UnixMillis};
use crate::ErrorCode;
use core::fmt;
use rand_core::RngCore;
use std::collections::VecDeque;

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
}

impl SessionConfig {
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
        }
    }
}

/// The single outstanding refresh: perform `request`, then call
/// [`Session::complete_refresh`] or [`Session::fail_refresh`] with `id`.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Which ticket this is.
    pub id: TicketId,
    /// The token request to send (its `Debug` redacts secrets).
    pub request: TokenRequest,
    /// Why the refresh is happening.
    pub reason: RefreshReason,
}

/// Why a ticket was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefreshReason {
    /// No token yet.
    Initial,
    /// The token reached its refresh time.
    Stale,
    /// The token reached hard expiry (or the session has none usable).
    Expired,
    /// The resource server rejected the current token.
    Rejected,
    /// The refresh token was refused (`invalid_grant`); falling back to the primary grant.
    Fallback,
    /// A backoff ended.
    Retry,
}

impl RefreshReason {
    /// Stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefreshReason::Initial => "initial",
            RefreshReason::Stale => "stale",
            RefreshReason::Expired => "expired",
            RefreshReason::Rejected => "rejected",
            RefreshReason::Fallback => "fallback",
            RefreshReason::Retry => "retry",
        }
    }
}

impl core::str::FromStr for RefreshReason {
    type Err = SessionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            RefreshReason::Initial,
            RefreshReason::Stale,
            RefreshReason::Expired,
            RefreshReason::Rejected,
            RefreshReason::Fallback,
            RefreshReason::Retry,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(SessionError::InvalidArgument(
            "refresh reason (initial, stale, expired, rejected, fallback, retry)",
        ))
    }
}

/// Why a caller must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// Another caller holds the ticket; wake when it closes (or at `until`).
    RefreshInFlight,
    /// The token's `nbf`/`iat` has not surely passed on the resource server's clock.
    NotYetValid,
    /// The token endpoint asked us to back off and no usable token exists.
    Backoff,
}

impl WaitReason {
    /// Stable lower-case name (`refresh_in_flight`, `not_yet_valid`, `backoff`).
    pub const fn as_str(self) -> &'static str {
        match self {
            WaitReason::RefreshInFlight => "refresh_in_flight",
            WaitReason::NotYetValid => "not_yet_valid",
            WaitReason::Backoff => "backoff",
        }
    }
}

impl core::str::FromStr for WaitReason {
    type Err = SessionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            WaitReason::RefreshInFlight,
            WaitReason::NotYetValid,
            WaitReason::Backoff,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(SessionError::InvalidArgument(
            "wait reason (refresh_in_flight, not_yet_valid, backoff)",
        ))
    }
}

/// The answer to [`Session::authorize`]. Every variant says what the caller does next.
#[must_use]
#[non_exhaustive]
#[derive(Debug)]
pub enum Authorization {
    /// Send the request with `header` as the `Authorization` value; report the response with
    /// `token_id`.
    Ready {
        /// `Bearer <token>`.
        header: Secret,
        /// The token used.
        token_id: TokenId,
    },
    /// Send the request with `header`, and — this caller only — perform the refresh in
    /// `ticket` (the token is stale but still valid).
    ReadyAndRefresh {
        /// `Bearer <token>`.
        header: Secret,
        /// The token used.
        token_id: TokenId,
        /// The refresh to perform.
        ticket: Ticket,
    },
    /// No usable token: perform the refresh in `ticket`, then call `authorize` again.
    Refresh {
        /// The refresh to perform.
        ticket: Ticket,
    },
    /// Call `authorize` again at `until` (or as soon as the in-flight refresh closes).
    Wait {
        /// When to come back at the latest.
        until: Reading,
        /// Milliseconds from the reading passed to `authorize` until `until` (>= 0): how long
        /// to sleep at most.
        wait_ms: i64,
        /// Why.
        reason: WaitReason,
    },
    /// No token can be had; give up this request with `error`.
    Failed {
        /// What went wrong.
        error: SessionError,
    },
}

impl Authorization {
    /// Stable name of the variant: `ready`, `ready_and_refresh`, `refresh`, `wait`, `failed`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Authorization::Ready { .. } => "ready",
            Authorization::ReadyAndRefresh { .. } => "ready_and_refresh",
            Authorization::Refresh { .. } => "refresh",
            Authorization::Wait { .. } => "wait",
            Authorization::Failed { .. } => "failed",
        }
    }
}

/// The answer to [`Session::on_response`].
#[must_use]
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Hand the response to the caller.
    Accept,
    /// Retry the request once (the caller keeps count): wait `wait_ms`, call `authorize`
    /// again and send with the header it gives.
    Retry {
        /// How long to wait before re-authorizing (0: at once).
        wait_ms: i64,
    },
    /// A token fresh from a refresh was rejected again: stop, with the diagnosis.
    Fail {
        /// Why the resource server keeps refusing.
        diagnosis: Diagnosis,
    },
}

impl Verdict {
    /// Stable name of the variant: `accept`, `retry`, `fail`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Retry { .. } => "retry",
            Verdict::Fail { .. } => "fail",
        }
    }
}

/// Sends of one API call at most: the first and one retry.
pub const MAX_SENDS_PER_CALL: u32 = 2;

/// Whether a request can be sent again (for [`Session::after_response`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resend {
    /// Its body is in memory, or it has none.
    Possible,
    /// Its body was a one-shot stream: this send is its only one.
    Impossible,
}

/// Which send of one API call a response answers (for [`Session::after_response`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attempt {
    /// 1 for the call's first send, 2 for its retry.
    pub number: u32,
    /// Whether the request can be sent again.
    pub resend: Resend,
}

/// What the host does with an API response: the answer to [`Session::after_response`]. Every
/// variant says what the caller does next.
#[must_use]
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum AfterResponse {
    /// Hand the response to the caller.
    Return,
    /// Hand the response to the caller: the resource server refused the token (a 401), and
    /// no retry is left (this was the retry, or the request cannot be sent again) or would
    /// help (a repeated refusal that nothing about time explains).
    ReturnRefusal,
    /// Send the request once more: wait `wait_ms`, call `authorize`, send with the header it
    /// gives and report that response with the next attempt number.
    Retry {
        /// How long to wait before re-authorizing (0: at once).
        wait_ms: i64,
    },
    /// Raise (throw) a clock-skew error instead of returning the response: the resource
    /// server keeps refusing freshly refreshed tokens and its clock explains it. `diagnosis`
    /// is [`Diagnosis::ClockSkew`]; its `Display` is the error's message.
    Raise {
        /// The diagnosis, with its evidence.
        diagnosis: Diagnosis,
    },
}

impl AfterResponse {
    /// Stable name of the variant: `return`, `return_refusal`, `retry`, `raise`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AfterResponse::Return => "return",
            AfterResponse::ReturnRefusal => "return_refusal",
            AfterResponse::Retry { .. } => "retry",
            AfterResponse::Raise { .. } => "raise",
        }
    }
}

/// Why a resource server refused a freshly refreshed token.
#[derive(Debug, Clone, PartialEq)]
pub enum Diagnosis {
    /// The token's time claims, seen through the resource server's estimated clock, explain
    /// the rejection.
    ClockSkew(Box<SkewEvidence>),
    /// Nothing about time explains it: the credentials or the token are not accepted.
    Unauthorized,
}

impl Diagnosis {
    /// Stable name: `clock_skew` or `unauthorized`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Diagnosis::ClockSkew(_) => "clock_skew",
            Diagnosis::Unauthorized => "unauthorized",
        }
    }
}

/// The message every host shows for a repeated refusal (a `ClockSkewError`'s message).
impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::ClockSkew(e) => write!(
                f,
                "the resource server keeps rejecting freshly refreshed tokens and its clock explains it ({})",
                e.finding.as_str()
            ),
            Diagnosis::Unauthorized => f.write_str(
                "the resource server keeps rejecting freshly refreshed tokens and nothing about time explains it",
            ),
        }
    }
}

/// Which time check the resource server probably failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkewFinding {
    /// Its clock may be before the token's `nbf`.
    NotYetValid,
    /// Its clock may be before the token's `iat`.
    IssuedInFuture,
    /// Its clock may be at or past the token's `exp`.
    Expired,
}

impl SkewFinding {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SkewFinding::NotYetValid => "not_yet_valid",
            SkewFinding::IssuedInFuture => "issued_in_future",
            SkewFinding::Expired => "expired",
        }
    }
}

impl core::str::FromStr for SkewFinding {
    type Err = SessionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SkewFinding::NotYetValid,
            SkewFinding::IssuedInFuture,
            SkewFinding::Expired,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(SessionError::InvalidArgument(
            "skew finding (not_yet_valid, issued_in_future, expired)",
        ))
    }
}

/// The evidence behind a [`Diagnosis::ClockSkew`].
#[derive(Debug, Clone, PartialEq)]
pub struct SkewEvidence {
    /// The likely failed check.
    pub finding: SkewFinding,
    /// Resource server offset estimate at the response.
    pub resource: Estimate,
    /// Issuer offset estimate at the response.
    pub issuer: Estimate,
    /// The resource server's clock at the response: lowest and highest possible (ms).
    pub resource_now_ms: (Option<i64>, Option<i64>),
    /// The token's claims (issuer clock), ms.
    pub exp_ms: Option<i64>,
    /// `nbf`.
    pub nbf_ms: Option<i64>,
    /// `iat`.
    pub iat_ms: Option<i64>,
}

/// Transport-level failure of a token request (for [`Session::fail_refresh`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportFailure {
    /// Connection refused, reset, DNS failure, TLS failure.
    Connect,
    /// The request timed out.
    Timeout,
    /// The caller aborted the refresh (e.g. an `AbortSignal`): no backoff, the next caller
    /// may try at once.
    Aborted,
    /// The shared token store is unreachable, and this credential's refresh token rotates: it
    /// may be presented only under the fleet lease, or a peer may present it too (reuse
    /// revokes the whole token family). Backs off like a transport failure.
    StoreUnavailable,
}

impl TransportFailure {
    /// Stable lower-case name (`connect`, `timeout`, `aborted`, `store_unavailable`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TransportFailure::Connect => "connect",
            TransportFailure::Timeout => "timeout",
            TransportFailure::Aborted => "aborted",
            TransportFailure::StoreUnavailable => "store_unavailable",
        }
    }
}

impl core::str::FromStr for TransportFailure {
    type Err = SessionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "connect" => Ok(TransportFailure::Connect),
            "timeout" => Ok(TransportFailure::Timeout),
            "aborted" => Ok(TransportFailure::Aborted),
            "store_unavailable" => Ok(TransportFailure::StoreUnavailable),
            _ => Err(SessionError::InvalidArgument(
                "transport failure (connect, timeout, aborted, store_unavailable)",
            )),
        }
    }
}

/// Errors of the session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionError {
    /// The ticket is not the outstanding one (already closed, timed out, or foreign).
    StaleTicket,
    /// The token endpoint failed; `class` says how soon it is worth retrying.
    TokenEndpoint {
        /// The failure.
        error: TokenEndpointError,
        /// Local time (wall) before which no new request will be made (the end of the
        /// backoff; for a refused refresh token with a fallback, at once).
        retry_at: Option<UnixMillis>,
    },
    /// A transport failure reaching the token endpoint; retried after `retry_at`.
    Transport {
        /// The failure.
        failure: TransportFailure,
        /// Local wall time of the next attempt.
        retry_at: Option<UnixMillis>,
    },
    /// The refresh token was refused and there is no primary grant to fall back to
    /// (the user must authorize again).
    ReauthorizationRequired,
    /// The token endpoint returned a token that is already past its hard expiry (judged by
    /// the worst-case clock offset). Treated as a transient failure.
    ExpiredOnArrival {
        /// Local wall time of the next attempt.
        retry_at: Option<UnixMillis>,
    },
    /// The token response's time values were unusable (e.g. an absurd `exp`). Treated as a
    /// transient failure.
    InvalidTokenTimes {
        /// What was wrong.
        error: LifetimeError,
        /// Local wall time of the next attempt.
        retry_at: Option<UnixMillis>,
    },
    /// The response's time values were unusable.
    Lifetime(LifetimeError),
    /// The token request could not be built from the configuration (bad URL, missing client
    /// authentication, an assertion that cannot be signed, ...).
    Grant(GrantError),
    /// A record cannot be placed in local time: nothing bounds the issuer's clock yet. Probe
    /// the token endpoint's `Date` ([`Session::add_issuer_date`]) and try again.
    IssuerClockUnknown,
    /// A configuration value is invalid (names it).
    InvalidConfig(&'static str),
    /// A reading or argument is invalid (names it).
    InvalidArgument(&'static str),
    /// The credential's identity is unfit (an invalid partition, or none for a store that
    /// needs one).
    Identity(IdentityError),
    /// A shared record belongs to another credential identity: never adopted
    /// (`record_identity_mismatch`).
    ForeignRecord,
}

impl ErrorCode for SessionError {
    fn code(&self) -> &'static str {
        match self {
            SessionError::StaleTicket => "stale_ticket",
            SessionError::TokenEndpoint { error, .. } => error.code(),
            // Not a transport error at all: nothing was sent (see `TransportFailure`).
            SessionError::Transport {
                failure: TransportFailure::StoreUnavailable,
                ..
            } => "store_unavailable",
            SessionError::Transport { .. } => "transport_error",
            SessionError::ReauthorizationRequired => "reauthorization_required",
            SessionError::ExpiredOnArrival { .. } => "expired_on_arrival",
            SessionError::InvalidTokenTimes { error, .. } => error.code(),
            SessionError::Lifetime(e) => e.code(),
            SessionError::Grant(e) => e.code(),
            SessionError::IssuerClockUnknown => "issuer_clock_unknown",
            SessionError::InvalidConfig(_) => "invalid_config",
            SessionError::InvalidArgument(_) => "invalid_argument",
            SessionError::Identity(e) => e.code(),
            SessionError::ForeignRecord => "record_identity_mismatch",
        }
    }
}

impl SessionError {
    /// Local wall time before which the session will not ask the token endpoint again: the end
    /// of the backoff a transient failure or a configuration error started (`None` for
    /// `ReauthorizationRequired`, aborts and errors not about the token endpoint).
    pub fn retry_at(&self) -> Option<UnixMillis> {
        match self {
            SessionError::TokenEndpoint { retry_at, .. }
            | SessionError::Transport { retry_at, .. }
            | SessionError::ExpiredOnArrival { retry_at }
            | SessionError::InvalidTokenTimes { retry_at, .. } => *retry_at,
            _ => None,
        }
    }

    /// The class of a token-endpoint failure (`None` for errors that are not about it).
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            SessionError::TokenEndpoint { error, .. } => Some(error.class()),
            SessionError::Transport { .. }
            | SessionError::ExpiredOnArrival { .. }
            | SessionError::InvalidTokenTimes { .. } => Some(ErrorClass::Transient),
            SessionError::ReauthorizationRequired => Some(ErrorClass::InvalidGrant),
            _ => None,
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::StaleTicket => f.write_str("the refresh ticket is not the outstanding one; result ignored"),
            SessionError::TokenEndpoint { error, .. } => write!(f, "token endpoint: {error}"),
            SessionError::Transport {
                failure: TransportFailure::StoreUnavailable,
                ..
            } => f.write_str(
                "the shared token store is unreachable: this session's refresh token is presented only under the fleet lease, so nothing was sent",
            ),
            SessionError::Transport { failure, .. } => {
                write!(f, "token endpoint unreachable: {}", failure.as_str())
            }
            SessionError::ReauthorizationRequired => {
                f.write_str("the refresh token was refused and no other grant is available: authorize again")
            }
            SessionError::ExpiredOnArrival { .. } => {
                f.write_str("the token endpoint returned a token that is already expired by the worst-case clock offset")
            }
            SessionError::InvalidTokenTimes { error, .. } => write!(f, "token response: {error}"),
            SessionError::Lifetime(e) => write!(f, "token lifetime: {e}"),
            SessionError::Grant(e) => write!(f, "token request: {e}"),
            SessionError::IssuerClockUnknown => {
                f.write_str("the issuer's clock is unknown: probe the token endpoint's Date header first")
            }
            SessionError::InvalidConfig(what) => write!(f, "invalid configuration: {what}"),
            SessionError::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            SessionError::Identity(e) => e.fmt(f),
            SessionError::ForeignRecord => f.write_str(
                "the shared token record belongs to another credential (grant, client, scope, parameters or partition); not adopted",
            ),
        }
    }
}

impl std::error::Error for SessionError {}

/// Something that happened, for logs and timelines. Never contains a token or secret.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A ticket was issued.
    TicketIssued {
        /// When.
        at: Reading,
        /// Which.
        ticket: TicketId,
        /// Why.
        reason: RefreshReason,
    },
    /// A new token arrived.
    TokenReceived {
        /// When.
        at: Reading,
        /// Which.
        token: TokenId,
        /// Lifetime from `sent` to the deadline, ms.
        lifetime_ms: i64,
        /// Milliseconds from receipt to hard expiry.
        usable_ms: i64,
    },
    /// A refresh failed.
    RefreshFailed {
        /// When.
        at: Reading,
        /// Stable error code.
        code: &'static str,
        /// Backoff imposed, ms (0: none).
        backoff_ms: i64,
    },
    /// The issuer answered a refresh with the token already held (it caches tokens); the
    /// next refresh is moved to shortly before hard expiry.
    TokenReused {
        /// When.
        at: Reading,
        /// The token.
        token: TokenId,
    },
    /// A token obtained by another process was adopted from its record.
    TokenAdopted {
        /// When.
        at: Reading,
        /// The id it got here.
        token: TokenId,
    },
    /// A ticket timed out and was abandoned.
    TicketAbandoned {
        /// When.
        at: Reading,
        /// Which.
        ticket: TicketId,
    },
    /// The resource server answered 401.
    Rejected {
        /// When.
        at: Reading,
        /// The token that was rejected.
        token: TokenId,
        /// What the session told the caller.
        verdict: &'static str,
    },
    /// Wall and monotonic clocks disagreed.
    ClockDiscontinuity {
        /// When noticed.
        at: Reading,
        /// Wall elapsed − monotonic elapsed, ms.
        wall_excess_ms: i64,
    },
}

impl SessionEvent {
    /// Stable name of the event: `ticket_issued`, `token_received`, `refresh_failed`,
    /// `token_reused`, `token_adopted`, `ticket_abandoned`, `rejected`, `clock_discontinuity`.
    pub const fn name(&self) -> &'static str {
        match self {
            SessionEvent::TicketIssued { .. } => "ticket_issued",
            SessionEvent::TokenReceived { .. } => "token_received",
            SessionEvent::RefreshFailed { .. } => "refresh_failed",
            SessionEvent::TokenReused { .. } => "token_reused",
            SessionEvent::TokenAdopted { .. } => "token_adopted",
            SessionEvent::TicketAbandoned { .. } => "ticket_abandoned",
            SessionEvent::Rejected { .. } => "rejected",
            SessionEvent::ClockDiscontinuity { .. } => "clock_discontinuity",
        }
    }
}

/// Counters and estimates. Contains no token or secret.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Tickets issued (token requests asked of the host).
    pub token_requests: u64,
    /// Tokens received.
    pub refreshes: u64,
    /// Failed token requests.
    pub failures: u64,
    /// 401 responses seen from the resource server.
    pub unauthorized: u64,
    /// Retries advised.
    pub retries: u64,
    /// Tickets abandoned after timing out.
    pub abandoned_tickets: u64,
    /// Local clock discontinuities noticed.
    pub discontinuities: u64,
}

const MAX_EVENTS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Issuer,
    Resource,
}

#[derive(Debug, Clone)]
struct HeldToken {
    id: TokenId,
    header: Secret,
    lifetime: Lifetime,
    iat_ms: Option<i64>,
    nbf_ms: Option<i64>,
    /// The earliest deadline on the issuer's clock and how much later it may be (for records);
    /// `None` when nothing bounds it safely (no `exp`, and the issuer's clock unknown).
    issuer_deadline: Option<(i64, i64)>,
    /// The access token's id ([`crate::record::token_id`]).
    token_id: String,
    /// Obtained because the resource server rejected the previous token.
    after_rejection: bool,
    /// The resource server accepted it at least once.
    accepted: bool,
    /// Rejected by the resource server: not to be handed out again.
    rejected: bool,
    /// Rejected after a rejection: kept in use (a refresh would not help) until it expires.
    condemned: bool,
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    id: TicketId,
    issued: Reading,
    uses_refresh_token: bool,
}

#[derive(Debug, Clone)]
struct Backoff {
    until: crate::lifetime::Deadline,
    error: SessionError,
    kind: BackoffKind,
}

/// Why the session stays away from the token endpoint, which decides what callers without a
/// usable token are told meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackoffKind {
    /// A transient failure: callers wait for the end if it is within `max_wait`, else fail.
    Transient,
    /// A configuration error: callers fail at once (waiting would not help), until
    /// `config_retry_ms` has passed.
    Configuration,
}

/// The refresh state machine for one credential and audience. See the module docs.
pub struct Session {
    config: SessionConfig,
    /// Whose tokens these are (what a shared record must match).
    identity: CredentialIdentity,
    rng: Box<dyn RngCore + Send>,
    current: Option<HeldToken>,
    /// The token before `current`, served while `current` is not yet valid on the
    /// resource server's clock.
    previous: Option<HeldToken>,
    refresh_token: Option<Secret>,
    /// The primary grant can still be used (an authorization code only once).
    primary_available: bool,
    ticket: Option<Outstanding>,
    next_ticket: u64,
    next_token: u64,
    /// The next token comes after a rejection.
    refreshing_after_rejection: bool,
    /// The refresh token was refused; the next ticket falls back to the primary grant.
    fallback_pending: bool,
    /// The issuer answered a refresh with the token we already held: it caches tokens, so
    /// refreshing early only gets the same one back. From then on refresh late.
    issuer_reuses_tokens: bool,
    backoff: Option<Backoff>,
    failures_in_row: u32,
    /// Set only to `ReauthorizationRequired`: the refresh token (or authorization code) was
    /// refused and no grant is left to retry with. Every other failure ends with a backoff.
    permanent: Option<SessionError>,
    issuer: SkewEstimator,
    resource: SkewEstimator,
    events: VecDeque<SessionEvent>,
    stats: Stats,
    /// The latest (by monotonic time) reading passed in.
    last_reading: Option<Reading>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token_url", &self.config.token_url)
            .field("current", &self.current.as_ref().map(|t| t.id))
            .field("ticket", &self.ticket.map(|t| t.id))
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Readings outside `Reading::new`'s range are refused at every input: they could only come
/// from a broken host clock, and arithmetic on them would mean nothing.
/// Whether a reading is within the range the session accepts (for the fleet machine).
pub(crate) fn reading_in_range(r: Reading) -> bool {
    in_range(r)
}

fn token_timeout_ok(ms: i64) -> bool {
    (1..=600_000).contains(&ms)
}

fn in_range(r: Reading) -> bool {
    Reading::new(r.wall.0, r.mono.0).is_ok()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Session {
    /// A session with no token yet. `rng` supplies refresh jitter, backoff jitter and any
    /// randomness the grant needs (PKCE, `jti`): pass an OS-backed generator in production,
    /// a seeded one in tests.
    pub fn new(
        config: SessionConfig,
        rng: Box<dyn RngCore + Send>,
    ) -> Result<Session, SessionError> {
        config.policy.validate().map_err(SessionError::Lifetime)?;
        if !(0..=3_600_000).contains(&config.ticket_timeout_ms) || config.ticket_timeout_ms == 0 {
            return Err(SessionError::InvalidConfig("ticket_timeout_ms"));
        }
        if !(0..=600_000).contains(&config.max_401_wait_ms) {
            return Err(SessionError::InvalidConfig("max_401_wait_ms"));
        }
        if !token_timeout_ok(config.token_timeout_ms) {
            return Err(SessionError::InvalidConfig(
                "token_timeout_ms (1 ms to 10 min)",
            ));
        }
        if !(1..=MAX_RESPONSE_BODY_LEN).contains(&config.max_token_response_len) {
            return Err(SessionError::InvalidConfig("max_token_response_len"));
        }
        if !(1..=5).contains(&config.refreshes_per_call) {
            return Err(SessionError::InvalidConfig("refreshes_per_call"));
        }
        let b = config.backoff;
        if b.base_ms <= 0
            || b.cap_ms < b.base_ms
            || b.cap_ms > 86_400_000
            || !(0..=86_400_000).contains(&b.max_retry_after_ms)
            || !(1_000..=86_400_000).contains(&b.config_retry_ms)
            || b.config_retry_ms < b.base_ms
        {
            return Err(SessionError::InvalidConfig("backoff"));
        }
        // Build one request now so a bad URL or missing client authentication fails here, not
        // at the first `authorize` (a throwaway RNG: nothing of it is kept).
        let probe_time = IssuerNow {
            low_ms: 1_700_000_000_000,
            high_ms: 1_700_000_000_000,
        };
        build_token_request(
            &config.token_url,
            &config.auth,
            &config.grant,
            probe_time,
            &mut crate::rng::SplitMix64::new(0),
        )
        .map_err(SessionError::Grant)?;
        let identity = CredentialIdentity::of(&config).map_err(SessionError::Identity)?;
        let refresh_token = match &config.grant {
            Grant::RefreshToken { refresh_token, .. } => Some(refresh_token.clone()),
            _ => None,
        };
        let primary_available = !matches!(config.grant, Grant::RefreshToken { .. });
        Ok(Session {
            identity,
            issuer: SkewEstimator::with_config(config.skew),
            resource: SkewEstimator::with_config(config.skew),
            config,
            rng,
            current: None,
            previous: None,
            refresh_token,
            primary_available,
            ticket: None,
            next_ticket: 1,
            next_token: 1,
            refreshing_after_rejection: false,
            fallback_pending: false,
            issuer_reuses_tokens: false,
            backoff: None,
            failures_in_row: 0,
            permanent: None,
            events: VecDeque::new(),
            stats: Stats::default(),
            last_reading: None,
        })
    }

    // ----- getters -------------------------------------------------------------------------

    /// The credential's identity ([`CredentialIdentity::of`]): what a shared record must match.
    pub fn identity(&self) -> &CredentialIdentity {
        &self.identity
    }

    /// Whether shared records of this session carry its refresh token (user-delegated grants:
    /// a rotating refresh token that the whole fleet must present once, in turn).
    pub fn shares_refresh_token(&self) -> bool {
        is_user_delegated(&self.config.grant)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The (issuer, resource server) offset estimates at `now`.
    pub fn estimates(&self, now: Reading) -> (Estimate, Estimate) {
        (self.issuer.estimate(now), self.resource.estimate(now))
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The current token's id and lifetime, if any.
    pub fn current_token(&self) -> Option<(TokenId, &Lifetime)> {
        self.current.as_ref().map(|t| (t.id, &t.lifetime))
    }

    /// The current token's state at `now`, judged against the resource server's estimate.
    pub fn token_state(&self, now: Reading) -> Option<TokenState> {
        let judge = self.judge_estimate(now);
        self.current
            .as_ref()
            .map(|t| t.lifetime.state(now, &judge, &self.config.policy))
    }

    /// The `Authorization` value (`Bearer …`) of a token this session still holds (the
    /// current one, or the previous one while it is still served). For hosts that cache the
    /// header per token id on their hot path.
    pub fn header_of(&self, token: TokenId) -> Option<&Secret> {
        self.current
            .iter()
            .chain(self.previous.iter())
            .find(|t| t.id == token)
            .map(|t| &t.header)
    }

    /// True while a ticket is outstanding.
    pub fn refresh_in_flight(&self) -> bool {
        self.ticket.is_some()
    }

    /// The bound on one token request, ms ([`SessionConfig::token_timeout_ms`]).
    pub fn token_timeout_ms(&self) -> i64 {
        self.config.token_timeout_ms
    }

    /// The largest token response body read ([`SessionConfig::max_token_response_len`]).
    pub fn max_token_response_len(&self) -> usize {
        self.config.max_token_response_len
    }

    /// Token requests one API call performs at most ([`SessionConfig::refreshes_per_call`]).
    pub fn refreshes_per_call(&self) -> u32 {
        self.config.refreshes_per_call
    }

    // ----- settings ------------------------------------------------------------------------

    /// Sets [`SessionConfig::token_timeout_ms`] (an adapter's `token_timeout` /
    /// `tokenTimeoutMs` option over a session it was given).
    pub fn set_token_timeout_ms(&mut self, ms: i64) -> Result<(), SessionError> {
        if !token_timeout_ok(ms) {
            return Err(SessionError::InvalidArgument(
                "token timeout (1 ms to 10 min)",
            ));
        }
        self.config.token_timeout_ms = ms;
        Ok(())
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next event, oldest first (at most 256 are kept; older ones are dropped).
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When the session next wants attention on its own: the refresh time, hard expiry, the
    /// end of a backoff or the ticket timeout, whichever is first. `None`: nothing scheduled.
    pub fn next_timeout(&self, now: Reading) -> Option<Reading> {
        let judge = self.judge_estimate(now);
        let mut best: Option<i64> = None;
        let mut consider = |ms: i64| best = Some(best.map_or(ms, |b: i64| b.min(ms)));
        if let Some(t) = &self.ticket {
            consider(
                self.config
                    .ticket_timeout_ms
                    .saturating_sub(now.mono.since(t.issued.mono)),
            );
        } else if let Some(tok) = self.current.as_ref().filter(|t| !t.rejected || t.condemned) {
            if let Some(ms) = tok
                .lifetime
                .next_change_ms(now, &judge, &self.config.policy)
            {
                consider(ms);
            }
        }
        if let Some(b) = &self.backoff {
            consider(b.until.remaining_ms(now));
        }
        best.map(|ms| now.advanced(ms.max(0)))
    }

    // ----- commands ------------------------------------------------------------------------

    /// Decides what the caller of an API request does now. Rules, in order:
    ///
    /// 1. An outstanding ticket older than `ticket_timeout_ms` is abandoned.
    /// 2. A usable current token (fresh or stale, not rejected) is handed out; if it is stale
    ///    and no ticket is outstanding, no backoff (of either kind) runs and no refresh token
    ///    was lost for good, this caller also gets the ticket (`ReadyAndRefresh`).
    /// 3. A current token not yet valid on the resource server's clock: the previous token is
    ///    served while it is usable; otherwise wait for `nbf` if within `max_wait`.
    /// 4. No usable token: `ReauthorizationRequired` fails the caller; an outstanding ticket
    ///    makes it wait; a configuration error's backoff fails it at once (fail fast); a
    ///    transient backoff makes it wait (if it ends within `max_wait`) or fail with the
    ///    transient error; otherwise this caller gets the ticket (`Refresh`).
    pub fn authorize(&mut self, now: Reading) -> Authorization {
        if !in_range(now) {
            return Authorization::Failed {
                error: SessionError::InvalidArgument("reading out of range"),
            };
        }
        self.observe(now);
        if let Some(t) = self.ticket {
            if now.mono.since(t.issued.mono) >= self.config.ticket_timeout_ms {
                self.ticket = None;
                self.stats.abandoned_tickets += 1;
                self.push(SessionEvent::TicketAbandoned {
                    at: now,
                    ticket: t.id,
                });
            }
        }
        if self
            .backoff
            .as_ref()
            .is_some_and(|b| b.until.has_passed(now))
        {
            self.backoff = None;
        }
        let judge = self.judge_estimate(now);
        let policy = self.config.policy;

        let current_state = self
            .current
            .as_ref()
            .filter(|t| !t.rejected || t.condemned)
            .map(|t| {
                (
                    t.lifetime.state(now, &judge, &policy),
                    t.lifetime.until_valid_ms(now, &judge),
                )
            });
        // Rule 3: prefer the previous token while the new one is not yet valid.
        if let Some((state, until_valid)) = current_state {
            if until_valid > 0 && state != TokenState::Expired {
                if let Some(prev) = self.previous.as_ref().filter(|p| !p.rejected) {
                    if prev.lifetime.state(now, &judge, &policy).is_usable() {
                        return Authorization::Ready {
                            header: prev.header.clone(),
                            token_id: prev.id,
                        };
                    }
                }
            }
        }
        match current_state {
            Some((TokenState::Fresh, _)) => {
                let t = self.current.as_ref().expect("state came from current");
                return Authorization::Ready {
                    header: t.header.clone(),
                    token_id: t.id,
                };
            }
            Some((TokenState::Stale, _)) => {
                let (header, token_id) = {
                    let t = self.current.as_ref().expect("state came from current");
                    (t.header.clone(), t.id)
                };
                if self.ticket.is_none() && self.backoff.is_none() && self.permanent.is_none() {
                    match self.issue_ticket(now, RefreshReason::Stale) {
                        Ok(ticket) => {
                            return Authorization::ReadyAndRefresh {
                                header,
                                token_id,
                                ticket,
                            }
                        }
                        Err(_) => return Authorization::Ready { header, token_id },
                    }
                }
                return Authorization::Ready { header, token_id };
            }
            Some((TokenState::NotYetValid { until, wait_ms }, _)) => {
                return Authorization::Wait {
                    until,
                    wait_ms: wait_ms.max(0),
                    reason: WaitReason::NotYetValid,
                };
            }
            Some((TokenState::Expired, _)) | None => {}
        }
        // Rule 4: nothing usable.
        self.previous = None;
        if let Some(e) = &self.permanent {
            return Authorization::Failed { error: e.clone() };
        }
        if let Some(t) = &self.ticket {
            let remaining = self
                .config
                .ticket_timeout_ms
                .saturating_sub(now.mono.since(t.issued.mono));
            return Authorization::Wait {
                until: now.advanced(remaining.max(0)),
                wait_ms: remaining.max(0),
                reason: WaitReason::RefreshInFlight,
            };
        }
        if let Some(b) = &self.backoff {
            let remaining = b.until.remaining_ms(now);
            if b.kind == BackoffKind::Transient && remaining <= policy.max_wait_ms {
                return Authorization::Wait {
                    until: now.advanced(remaining.max(0)),
                    wait_ms: remaining.max(0),
                    reason: WaitReason::Backoff,
                };
            }
            return Authorization::Failed {
                error: b.error.clone(),
            };
        }
        let reason = if self.refreshing_after_rejection {
            RefreshReason::Rejected
        } else if self.current.is_some() {
            RefreshReason::Expired
        } else if self.failures_in_row > 0 {
            RefreshReason::Retry
        } else {
            RefreshReason::Initial
        };
        match self.issue_ticket(now, reason) {
            Ok(ticket) => Authorization::Refresh { ticket },
            Err(error) => Authorization::Failed { error },
        }
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Closes the ticket with the token endpoint's answer. `sent`/`received` bracket the
    /// token request. Rules:
    ///
    /// * a ticket that is not the outstanding one is rejected (`StaleTicket`), never applied;
    /// * the response's `Date` feeds the issuer's estimate, the new token's `iat` a lower bound;
    /// * success: the token becomes current (the old one is kept as `previous` while the new
    ///   one is not yet valid on the resource server's clock); a rotated refresh token replaces
    ///   the old one, otherwise the old one is kept; a token already past hard expiry is a
    ///   transient failure (`ExpiredOnArrival`);
    /// * `invalid_grant` on a refresh token: the refresh token is dropped; with a reusable
    ///   primary grant the next caller gets a `Fallback` ticket, else `ReauthorizationRequired`
    ///   is permanent (no credential is left to retry with). On an authorization code: the
    ///   code is spent, `ReauthorizationRequired` too;
    /// * configuration errors ([`ErrorClass::Permanent`]: `invalid_client`,
    ///   `unauthorized_client`, `invalid_scope`, `invalid_request`, `unsupported_grant_type`,
    ///   unknown codes on other than 408/429/5xx; and `invalid_grant` on a client-credentials
    ///   or JWT-bearer grant) start the configuration backoff: `config_retry_ms` (or a longer
    ///   `Retry-After`, up to `max_retry_after_ms`), not jittered. A still-valid token is
    ///   served meanwhile; callers without one fail at once with the error; after the wait
    ///   the next caller gets a ticket, so a fixed server is picked up without a restart;
    /// * everything else is transient and starts a backoff (full jitter, honouring
    ///   `Retry-After`): 408, 429, 5xx, any HTTP error without an OAuth `error` (a WAF's HTML
    ///   403, a redirect, a 404), every malformed response (no `access_token`, `token_type:
    ///   DPoP`, ...), a token past hard expiry on arrival, unusable token times.
    pub fn complete_refresh(
        &mut self,
        ticket: TicketId,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        sent: Reading,
        received: Reading,
    ) -> Result<TokenId, SessionError> {
        if !in_range(sent) || !in_range(received) {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        let outstanding = self.take_ticket(ticket)?;
        if received.mono < sent.mono {
            self.ticket = Some(outstanding);
            return Err(SessionError::InvalidArgument(
                "received is earlier than sent",
            ));
        }
        self.observe(received);
        if let Some(date) =
            header(headers, "date").and_then(|d| parse_http_date(d, received.wall).ok())
        {
            if let Ok(s) = Sample::from_date_header(date, sent, received) {
                self.add_sample(Origin::Issuer, s);
            }
        }
        match parse_token_response_capped(status, headers, body, self.config.max_token_response_len)
        {
            Ok(resp) => {
                let claims = peek(resp.access_token.expose()).ok();
                let times = TokenTimes {
                    expires_in_ms: resp.expires_in_ms,
                    exp_ms: claims.as_ref().and_then(|c| c.times.exp_ms),
                    nbf_ms: claims.as_ref().and_then(|c| c.times.nbf_ms),
                    iat_ms: claims.as_ref().and_then(|c| c.times.iat_ms),
                };
                if let Some(iat) = times.iat_ms {
                    if let Ok(s) = Sample::from_iat(iat, received) {
                        self.add_sample(Origin::Issuer, s);
                    }
                }
                let judge = self.judge_estimate(received);
                let mut lifetime = match Lifetime::new(
                    &times,
                    sent,
                    received,
                    &judge,
                    &self.config.policy,
                    self.rng.as_mut(),
                ) {
                    Ok(l) => l,
                    Err(error) => {
                        let e = SessionError::InvalidTokenTimes {
                            error,
                            retry_at: None,
                        };
                        return Err(self.transient_failure(received, e, None));
                    }
                };
                let header = Secret::new(format!("Bearer {}", resp.access_token.expose()));
                // The same token again: the issuer caches. Keep ours (its id, its history)
                // and ask again only shortly before hard expiry.
                if let Some(cur) = self
                    .current
                    .as_mut()
                    .filter(|c| c.header == header && !c.rejected)
                {
                    self.issuer_reuses_tokens = true;
                    if cur.lifetime.until_hard_expiry_ms(received, &judge) <= 0 {
                        // We judge it expired, the issuer does not: asking again at once would
                        // only get it again. Back off.
                        return Err(self.transient_failure(
                            received,
                            SessionError::ExpiredOnArrival { retry_at: None },
                            None,
                        ));
                    }
                    cur.lifetime.refresh_at = late_refresh_at(&cur.lifetime);
                    let id = cur.id;
                    if let Some(rt) = resp.refresh_token {
                        self.refresh_token = Some(rt);
                    }
                    self.failures_in_row = 0;
                    self.backoff = None;
                    self.stats.refreshes += 1;
                    self.push(SessionEvent::TokenReused {
                        at: received,
                        token: id,
                    });
                    return Ok(id);
                }
                if lifetime.until_hard_expiry_ms(received, &judge) <= 0 {
                    return Err(self.transient_failure(
                        received,
                        SessionError::ExpiredOnArrival { retry_at: None },
                        None,
                    ));
                }
                if self.issuer_reuses_tokens {
                    lifetime.refresh_at = late_refresh_at(&lifetime);
                }
                if let Some(rt) = resp.refresh_token {
                    self.refresh_token = Some(rt);
                }
                let id = TokenId(self.next_token);
                self.next_token += 1;
                let held = HeldToken {
                    id,
                    header,
                    lifetime,
                    iat_ms: times.iat_ms,
                    nbf_ms: times.nbf_ms,
                    issuer_deadline: self.issuer_deadline(&times, sent, received),
                    token_id: crate::record::token_id(resp.access_token.expose()),
                    after_rejection: self.refreshing_after_rejection,
                    accepted: false,
                    rejected: false,
                    condemned: false,
                };
                self.refreshing_after_rejection = false;
                let old = self.current.replace(held);
                self.previous = old.filter(|t| !t.rejected);
                if matches!(self.config.grant, Grant::AuthorizationCode { .. })
                    && !outstanding.uses_refresh_token
                {
                    self.primary_available = false;
                }
                self.failures_in_row = 0;
                self.backoff = None;
                self.fallback_pending = false;
                self.stats.refreshes += 1;
                self.push(SessionEvent::TokenReceived {
                    at: received,
                    token: id,
                    lifetime_ms: lifetime.lifetime_ms,
                    usable_ms: lifetime.until_hard_expiry_ms(received, &judge),
                });
                Ok(id)
            }
            Err(err) => {
                let retry_after = err.retry_after().map(str::to_owned);
                match err.class() {
                    ErrorClass::InvalidGrant if outstanding.uses_refresh_token => {
                        self.refresh_token = None;
                        self.stats.failures += 1;
                        self.failures_in_row = 0;
                        let code = err.code();
                        if self.primary_available {
                            self.fallback_pending = true;
                            self.push(SessionEvent::RefreshFailed {
                                at: received,
                                code,
                                backoff_ms: 0,
                            });
                            Err(SessionError::TokenEndpoint {
                                error: err,
                                retry_at: Some(received.wall),
                            })
                        } else {
                            self.push(SessionEvent::RefreshFailed {
                                at: received,
                                code,
                                backoff_ms: 0,
                            });
                            self.permanent = Some(SessionError::ReauthorizationRequired);
                            Err(SessionError::ReauthorizationRequired)
                        }
                    }
                    ErrorClass::Transient => {
                        let e = SessionError::TokenEndpoint {
                            error: err,
                            retry_at: None,
                        };
                        Err(self.backoff_failure(
                            received,
                            e,
                            retry_after.as_deref(),
                            BackoffKind::Transient,
                        ))
                    }
                    // An authorization code is used once: refused, nothing is left to try.
                    ErrorClass::InvalidGrant
                        if matches!(self.config.grant, Grant::AuthorizationCode { .. }) =>
                    {
                        self.stats.failures += 1;
                        self.failures_in_row = 0;
                        self.primary_available = false;
                        self.push(SessionEvent::RefreshFailed {
                            at: received,
                            code: err.code(),
                            backoff_ms: 0,
                        });
                        self.permanent = Some(SessionError::ReauthorizationRequired);
                        Err(SessionError::ReauthorizationRequired)
                    }
                    // A client-credentials or JWT-bearer grant refused, or the client itself:
                    // the configuration (or the server's) needs a fix. Ask again much later.
                    ErrorClass::InvalidGrant | ErrorClass::Permanent => {
                        let e = SessionError::TokenEndpoint {
                            error: err,
                            retry_at: None,
                        };
                        Err(self.backoff_failure(
                            received,
                            e,
                            retry_after.as_deref(),
                            BackoffKind::Configuration,
                        ))
                    }
                }
            }
        }
    }

    /// Closes the ticket after a transport failure (or an abort). Returns the error callers
    /// will see. A stale ticket is rejected. An abort imposes no backoff.
    pub fn fail_refresh(
        &mut self,
        ticket: TicketId,
        failure: TransportFailure,
        now: Reading,
    ) -> Result<SessionError, SessionError> {
        if !in_range(now) {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        let _ = self.take_ticket(ticket)?;
        self.observe(now);
        if failure == TransportFailure::Aborted {
            return Ok(SessionError::Transport {
                failure,
                retry_at: None,
            });
        }
        Ok(self.transient_failure(
            now,
            SessionError::Transport {
                failure,
                retry_at: None,
            },
            None,
        ))
    }

    /// Takes every API response made with a token from this session. Rules:
    ///
    /// * the `Date` header feeds the resource server's estimate;
    /// * a non-401 marks the token accepted and is accepted;
    /// * 401 on a token that is no longer current: retry (with the newer token);
    /// * 401 on the current token that came after a rejection: `Fail` with a diagnosis, and the
    ///   token is kept (another refresh would not help; no refresh storm);
    /// * 401 that the resource server's clock explains as "not yet valid" within
    ///   `max_401_wait_ms`: retry after that wait, token kept;
    /// * otherwise: the token is invalidated (the next `authorize` refreshes) and retry.
    pub fn on_response(
        &mut self,
        token_id: TokenId,
        status: u16,
        headers: &[(String, String)],
        sent: Reading,
        received: Reading,
    ) -> Verdict {
        // Unusable readings: judge the status alone, at the latest reading we trust.
        let (sent, received, readings_ok) = match self.last_reading {
            _ if in_range(sent) && in_range(received) => (sent, received, true),
            Some(last) => (last, last, false),
            None => (Reading::default(), Reading::default(), false),
        };
        if readings_ok {
            self.observe(received);
        }
        if let Some(date) = header(headers, "date")
            .filter(|_| readings_ok)
            .and_then(|d| parse_http_date(d, received.wall).ok())
        {
            if let Ok(s) = Sample::from_date_header(date, sent, received) {
                self.add_sample(Origin::Resource, s);
            }
        }
        let is_current = self.current.as_ref().is_some_and(|t| t.id == token_id);
        if status != 401 {
            if let Some(t) = self.current.as_mut().filter(|t| t.id == token_id) {
                t.accepted = true;
                // The resource server's clock caught up: the token is good again, and a later
                // 401 means something new (a refresh may help).
                if t.condemned {
                    t.condemned = false;
                    t.rejected = false;
                }
            }
            return Verdict::Accept;
        }
        self.stats.unauthorized += 1;
        let verdict = if !is_current {
            // An older token: never serve it again; the retry gets the newer one.
            if let Some(p) = self.previous.as_mut().filter(|p| p.id == token_id) {
                p.rejected = true;
            }
            Verdict::Retry { wait_ms: 0 }
        } else {
            let judge = self.judge_estimate(received);
            let (issuer_est, resource_est) = self.estimates(received);
            let max_wait = self.config.max_401_wait_ms;
            let t = self.current.as_mut().expect("is_current");
            if t.condemned || (t.after_rejection && !t.accepted) {
                t.condemned = true;
                t.rejected = true;
                Verdict::Fail {
                    diagnosis: diagnose(
                        &t.lifetime,
                        t.nbf_ms,
                        t.iat_ms,
                        received,
                        &issuer_est,
                        &resource_est,
                    ),
                }
            } else if t.rejected {
                // Already invalidated by a concurrent 401.
                Verdict::Retry { wait_ms: 0 }
            } else {
                let wait = t.lifetime.until_valid_ms(received, &judge);
                let best_wait = t.lifetime.not_before_ms.map_or(0, |nb| {
                    nb.saturating_sub(received.wall.0.saturating_add(judge.offset_ms))
                });
                if best_wait > -1_000 && wait > 0 && wait <= max_wait {
                    Verdict::Retry { wait_ms: wait }
                } else {
                    t.rejected = true;
                    self.refreshing_after_rejection = true;
                    Verdict::Retry { wait_ms: 0 }
                }
            }
        };
        if matches!(verdict, Verdict::Retry { .. }) {
            self.stats.retries += 1;
        }
        let name = match &verdict {
            Verdict::Fail { diagnosis } => diagnosis.as_str(),
            other => other.as_str(),
        };
        self.push(SessionEvent::Rejected {
            at: received,
            token: token_id,
            verdict: name,
        });
        verdict
    }

    /// The decision after an API response, for adapters: [`on_response`](Self::on_response)
    /// (same inputs, same effect on the session) and then what the host does with the
    /// response, given which send of the call it answers. Rules:
    ///
    /// * accepted: `Return`;
    /// * a retry advised on a send that is not the last one (`attempt.number` below
    ///   [`MAX_SENDS_PER_CALL`] and the request can be sent again): `Retry` with its wait;
    /// * a repeated refusal diagnosed as clock skew: `Raise` (on any send);
    /// * any other refusal: `ReturnRefusal`.
    pub fn after_response(
        &mut self,
        token_id: TokenId,
        status: u16,
        headers: &[(String, String)],
        sent: Reading,
        received: Reading,
        attempt: Attempt,
    ) -> AfterResponse {
        let may_resend = attempt.number < MAX_SENDS_PER_CALL && attempt.resend == Resend::Possible;
        match self.on_response(token_id, status, headers, sent, received) {
            Verdict::Accept => AfterResponse::Return,
            Verdict::Retry { wait_ms } if may_resend => AfterResponse::Retry { wait_ms },
            Verdict::Fail {
                diagnosis: diagnosis @ Diagnosis::ClockSkew(_),
            } => AfterResponse::Raise { diagnosis },
            Verdict::Retry { .. } | Verdict::Fail { .. } => AfterResponse::ReturnRefusal,
        }
    }

    // ----- fleet ---------------------------------------------------------------------------

    /// The held token's id ([`crate::record::token_id`]) and its earliest deadline on the
    /// issuer's clock (ms) — what a shared record is compared with. `None` without a token,
    /// or when the resource server rejected it.
    /// A held token whose issuer-clock deadline is unknown reports `i64::MIN` (any other
    /// token counts as newer).
    pub fn held_token_deadline(&self) -> Option<(&str, i64)> {
        self.current.as_ref().filter(|t| !t.rejected).map(|t| {
            (
                t.token_id.as_str(),
                t.issuer_deadline.map_or(i64::MIN, |d| d.0),
            )
        })
    }

    /// Feeds a `Date` header from the token endpoint that was not part of a refresh (e.g. a
    /// `HEAD` probe before adopting a record, when the issuer's clock is still unknown).
    pub fn add_issuer_date(
        &mut self,
        date: &str,
        sent: Reading,
        received: Reading,
    ) -> Result<(), SessionError> {
        if !in_range(sent) || !in_range(received) {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        self.observe(received);
        let date = parse_http_date(date, received.wall)
            .map_err(|_| SessionError::InvalidArgument("date"))?;
        let sample = Sample::from_date_header(date, sent, received)
            .map_err(|_| SessionError::InvalidArgument("readings"))?;
        self.add_sample(Origin::Issuer, sample);
        Ok(())
    }

    /// The current token as a record another process can adopt, with its deadlines on the
    /// issuer's clock; `None` without a token that has not expired (or one the resource
    /// server rejected), and `None` when nothing bounds the token's deadline on the issuer's
    /// clock (an opaque token or no `exp`, and no lower bound on the issuer's offset: a
    /// deadline built on a guessed offset could let a reader use the token past its real
    /// expiry). `fencing` is the writer's lease token. For user-delegated grants the record
    /// carries the current refresh token ([`shares_refresh_token`](Self::shares_refresh_token)).
    pub fn export_record(&self, now: Reading, fencing: u64) -> Option<crate::record::TokenRecord> {
        let judge = self.judge_estimate(now);
        let t = self.current.as_ref().filter(|t| !t.rejected)?;
        let (deadline_ms, deadline_slack_ms) = match t.issuer_deadline {
            Some(d) => d,
            // The refresh token must reach the fleet all the same; an access-token deadline of
            // 0 makes every reader refuse the access token (expired on arrival) and take only
            // the refresh token.
            None if self.shares_refresh_token() => (0, 0),
            None => return None,
        };
        // Only an expired token is kept back. One not yet valid on the resource server's clock
        // (a fresh token and a slow resource server) is exported: each reader judges `nbf`
        // itself, and withholding it would send every waiting peer to the token endpoint.
        if t.lifetime.until_hard_expiry_ms(now, &judge) <= 0 {
            return None;
        }
        Some(crate::record::TokenRecord {
            token_id: t.token_id.clone(),
            access_token: Secret::new(
                t.header
                    .expose()
                    .strip_prefix("Bearer ")
                    .unwrap_or_default(),
            ),
            identity: self.identity.to_string(),
            refresh_token: if self.shares_refresh_token() {
                self.refresh_token.clone()
            } else {
                None
            },
            deadline_ms,
            deadline_slack_ms,
            exp_ms: t.lifetime.exp_ms,
            nbf_ms: t.nbf_ms,
            iat_ms: t.iat_ms,
            fencing,
        })
    }

    /// Adopts a token another process obtained. Its issuer-clock deadline is mapped into local
    /// time through *our* estimate of the issuer's clock, worst case (the issuer's clock as far
    /// ahead as the estimate allows). Rules: a record of another credential identity is
    /// refused (`record_identity_mismatch`), and so is a token the resource server rejected
    /// here; a record's refresh token replaces ours (user-delegated grants); the
    /// token we already hold is kept (same id); without an upper bound on the issuer's offset
    /// the record cannot be placed (`issuer_clock_unknown`: probe the token endpoint's `Date`
    /// with [`add_issuer_date`](Self::add_issuer_date) and try again); a record already past hard
    /// expiry for us is refused (`expired_on_arrival`, no backoff). If `ticket` is given it is
    /// closed by the adoption (a peer refreshed for us).
    pub fn adopt_record(
        &mut self,
        record: &crate::record::TokenRecord,
        ticket: Option<TicketId>,
        now: Reading,
    ) -> Result<TokenId, SessionError> {
        if !in_range(now) {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        self.observe(now);
        // Grant, endpoint, client, scope, every parameter and the partition: a token issued
        // to another principal (a record moved under our key) is never ours to use.
        self.check_identity(record)?;
        // A token the resource server rejected here is not taken back from the store (the
        // peer that published it may not have been told yet): adopting it again would only
        // be rejected again, a refresh loop without a single token request.
        if self
            .current
            .iter()
            .chain(self.previous.iter())
            .any(|t| t.rejected && t.token_id == record.token_id)
        {
            return Err(SessionError::InvalidArgument(
                "record holds a token the resource server rejected",
            ));
        }
        if let Some(t) = ticket {
            if self.ticket.map(|o| o.id) != Some(t) {
                return Err(SessionError::StaleTicket);
            }
        }
        if let Some(cur) = self
            .current
            .as_ref()
            .filter(|c| c.token_id == record.token_id && !c.rejected)
        {
            let id = cur.id;
            self.take_refresh_token(record);
            if ticket.is_some() {
                self.ticket = None;
            }
            return Ok(id);
        }
        let issuer = self.issuer.estimate(now);
        let Some(high) = issuer.high_ms else {
            return Err(SessionError::IssuerClockUnknown);
        };
        let local_wall = record.deadline_ms.saturating_sub(high);
        let deadline = crate::lifetime::Deadline {
            wall: UnixMillis(local_wall),
            mono: now.mono.plus(local_wall.saturating_sub(now.wall.0)),
        };
        let times = TokenTimes {
            expires_in_ms: None,
            exp_ms: record.exp_ms,
            nbf_ms: record.nbf_ms,
            iat_ms: record.iat_ms,
        };
        let mut lifetime = Lifetime::from_deadline(
            deadline,
            now,
            &times,
            &self.config.policy,
            self.rng.as_mut(),
        )
        .map_err(SessionError::Lifetime)?;
        let judge = self.judge_estimate(now);
        if lifetime.until_hard_expiry_ms(now, &judge) <= 0 {
            return Err(SessionError::ExpiredOnArrival { retry_at: None });
        }
        if self.issuer_reuses_tokens {
            lifetime.refresh_at = late_refresh_at(&lifetime);
        }
        if ticket.is_some() {
            self.ticket = None;
        }
        self.take_refresh_token(record);
        let id = TokenId(self.next_token);
        self.next_token += 1;
        let held = HeldToken {
            id,
            header: Secret::new(format!("Bearer {}", record.access_token.expose())),
            lifetime,
            iat_ms: record.iat_ms,
            nbf_ms: record.nbf_ms,
            issuer_deadline: Some((record.deadline_ms, record.deadline_slack_ms)),
            token_id: record.token_id.clone(),
            after_rejection: false,
            accepted: false,
            rejected: false,
            condemned: false,
        };
        let old = self.current.replace(held);
        self.previous = old.filter(|t| !t.rejected);
        self.failures_in_row = 0;
        self.backoff = None;
        self.push(SessionEvent::TokenAdopted { at: now, token: id });
        Ok(id)
    }

    /// Takes the refresh token of a record, for the outstanding `ticket`, before this process
    /// presents its own: under the fleet lease the record holds the fleet's latest refresh
    /// token (a peer may have rotated the one we hold). Returns the ticket's token request
    /// rebuilt with it when it differs from ours (send that one instead), `None` when ours is
    /// current or the session does not share refresh tokens. A record of another identity is
    /// refused (`record_identity_mismatch`).
    pub fn adopt_refresh_token(
        &mut self,
        record: &crate::record::TokenRecord,
        ticket: TicketId,
        now: Reading,
    ) -> Result<Option<TokenRequest>, SessionError> {
        if !in_range(now) {
            return Err(SessionError::InvalidArgument("reading out of range"));
        }
        self.check_identity(record)?;
        let Some(out) = self.ticket.filter(|o| o.id == ticket) else {
            return Err(SessionError::StaleTicket);
        };
        if !self.take_refresh_token(record) || !out.uses_refresh_token {
            return Ok(None);
        }
        let (request, _) = self.token_request(now)?;
        Ok(Some(request))
    }

    // ----- internals -----------------------------------------------------------------------

    fn check_identity(&self, record: &crate::record::TokenRecord) -> Result<(), SessionError> {
        if crate::oauth::constant_time_eq(
            record.identity.as_bytes(),
            self.identity.to_string().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(SessionError::ForeignRecord)
        }
    }

    /// Replaces our refresh token with the record's (user-delegated grants only). Returns
    /// whether it changed.
    fn take_refresh_token(&mut self, record: &crate::record::TokenRecord) -> bool {
        match &record.refresh_token {
            Some(rt) if self.shares_refresh_token() && self.refresh_token.as_ref() != Some(rt) => {
                self.refresh_token = Some(rt.clone());
                true
            }
            _ => false,
        }
    }

    /// The token's deadline on the issuer's clock: `min(exp, issuer time at sent +
    /// expires_in)`, earliest (the issuer minted it no earlier than our request left), with the
    /// slack up to the latest. Without a lower bound on the issuer's offset only `exp` can
    /// say (`None` without one): a deadline from `sent + expires_in` on a guessed offset could
    /// be later than the real one.
    fn issuer_deadline(
        &self,
        times: &TokenTimes,
        sent: Reading,
        received: Reading,
    ) -> Option<(i64, i64)> {
        let est = self.issuer.estimate(received);
        let Some(low_offset) = est.low_ms else {
            return times.exp_ms.map(|exp| (exp, 0));
        };
        let low = sent.wall.0.saturating_add(low_offset);
        let high = received
            .wall
            .0
            .saturating_add(est.high_ms.unwrap_or(est.offset_ms));
        let span = high.saturating_sub(low).max(0);
        let lifetime = times.expires_in_ms.or(if times.exp_ms.is_none() {
            Some(self.config.policy.assumed_lifetime_ms)
        } else {
            None
        });
        Some(
            match (lifetime.map(|l| low.saturating_add(l)), times.exp_ms) {
                (Some(d), Some(exp)) if exp <= d => (exp, 0),
                (Some(d), _) => (d, span),
                (None, Some(exp)) => (exp, 0),
                (None, None) => (low, span),
            },
        )
    }

    /// The estimate that judges the token: the resource server's once it has samples, the
    /// issuer's until then (the resource server usually shares the issuer's time source).
    fn judge_estimate(&self, now: Reading) -> Estimate {
        if self.resource.is_empty() {
            self.issuer.estimate(now)
        } else {
            self.resource.estimate(now)
        }
    }

    fn observe(&mut self, now: Reading) {
        if self.last_reading.is_none_or(|l| now.mono >= l.mono) {
            self.last_reading = Some(now);
        }
        let d1 = self.issuer.observe(now);
        let d2 = self.resource.observe(now);
        if let Some(d) = d1.or(d2) {
            self.stats.discontinuities += 1;
            self.push(SessionEvent::ClockDiscontinuity {
                at: now,
                wall_excess_ms: d.wall_excess_ms,
            });
        }
    }

    /// Adds a sample to one origin's estimator; a local clock discontinuity it resolves is
    /// resolved for the other origin too (the ambiguity was about our clock).
    fn add_sample(&mut self, origin: Origin, sample: Sample) {
        let (this, other) = match origin {
            Origin::Issuer => (&mut self.issuer, &mut self.resource),
            Origin::Resource => (&mut self.resource, &mut self.issuer),
        };
        this.add(sample);
        for res in this.take_resolutions() {
            other.apply_resolution(res.at, res.explanation);
            for t in self.current.iter_mut().chain(self.previous.iter_mut()) {
                t.lifetime.rebase(&res);
            }
        }
    }

    fn push(&mut self, e: SessionEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn take_ticket(&mut self, ticket: TicketId) -> Result<Outstanding, SessionError> {
        match self.ticket {
            Some(t) if t.id == ticket => {
                self.ticket = None;
                Ok(t)
            }
            _ => Err(SessionError::StaleTicket),
        }
    }

    /// The token request to send now: the refresh token while we hold one, else the primary
    /// grant while it is usable (an authorization code only once). Says whether it presents
    /// the refresh token.
    fn token_request(&mut self, now: Reading) -> Result<(TokenRequest, bool), SessionError> {
        let (grant, uses_refresh_token) = match &self.refresh_token {
            Some(rt) => {
                let scope = match &self.config.grant {
                    Grant::RefreshToken { scope, .. } => scope.clone(),
                    _ => None,
                };
                (
                    Grant::RefreshToken {
                        refresh_token: rt.clone(),
                        scope,
                    },
                    true,
                )
            }
            None if self.primary_available => (self.config.grant.clone(), false),
            None => {
                let e = SessionError::ReauthorizationRequired;
                self.permanent = Some(e.clone());
                return Err(e);
            }
        };
        let est = self.issuer.estimate(now);
        // The issuer's clock now lies in [now + low, now + high]; unknown bounds fall back to
        // the best guess.
        let issuer_now = IssuerNow {
            low_ms: now
                .wall
                .0
                .saturating_add(est.low_ms.unwrap_or(est.offset_ms)),
            high_ms: now
                .wall
                .0
                .saturating_add(est.high_ms.unwrap_or(est.offset_ms)),
        };
        let request = build_token_request(
            &self.config.token_url,
            &self.config.auth,
            &grant,
            issuer_now,
            self.rng.as_mut(),
        )
        .map_err(SessionError::Grant)?;
        Ok((request, uses_refresh_token))
    }

    fn issue_ticket(
        &mut self,
        now: Reading,
        reason: RefreshReason,
    ) -> Result<Ticket, SessionError> {
        let (request, uses_refresh_token) = self.token_request(now)?;
        let reason = if !uses_refresh_token && self.fallback_pending {
            RefreshReason::Fallback
        } else {
            reason
        };
        let id = TicketId(self.next_ticket);
        self.next_ticket += 1;
        self.ticket = Some(Outstanding {
            id,
            issued: now,
            uses_refresh_token,
        });
        self.stats.token_requests += 1;
        self.push(SessionEvent::TicketIssued {
            at: now,
            ticket: id,
            reason,
        });
        Ok(Ticket {
            id,
            request,
            reason,
        })
    }

    /// Records a transient failure: backoff with full jitter (or `Retry-After` if longer).
    fn transient_failure(
        &mut self,
        now: Reading,
        error: SessionError,
        retry_after: Option<&str>,
    ) -> SessionError {
        self.backoff_failure(now, error, retry_after, BackoffKind::Transient)
    }

    /// Records a failure and the backoff it starts; returns the error callers will see, with
    /// the backoff's end as its `retry_at`. Transient: full jitter in `[0, min(cap, base ·
    /// 2^(n-1))]` for the n-th failure in a row. Configuration: `config_retry_ms`. Either way a
    /// longer `Retry-After` wins, cut to `max_retry_after_ms`.
    fn backoff_failure(
        &mut self,
        now: Reading,
        error: SessionError,
        retry_after: Option<&str>,
        kind: BackoffKind,
    ) -> SessionError {
        self.stats.failures += 1;
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let b = self.config.backoff;
        let mut delay = match kind {
            BackoffKind::Transient => {
                let exp = b
                    .base_ms
                    .saturating_mul(1_i64 << (self.failures_in_row - 1).min(30));
                below(self.rng.as_mut(), exp.min(b.cap_ms).saturating_add(1))
            }
            BackoffKind::Configuration => b.config_retry_ms,
        };
        if let Some(ra) = retry_after.and_then(|v| parse_retry_after(v, now.wall).ok()) {
            let ra_ms = match ra {
                RetryAfter::Delay { ms } => ms,
                // An HTTP-date on the server's clock: wait until the server's clock surely
                // reached it (lowest offset).
                RetryAfter::Date(server) => {
                    let est = self.issuer.estimate(now);
                    server.0.saturating_sub(
                        now.wall
                            .0
                            .saturating_add(est.low_ms.unwrap_or(est.offset_ms)),
                    )
                }
            };
            delay = delay.max(ra_ms.clamp(0, b.max_retry_after_ms));
        }
        let until = crate::lifetime::Deadline {
            wall: now.wall.plus(delay),
            mono: now.mono.plus(delay),
        };
        let error = match error {
            SessionError::TokenEndpoint { error, .. } => SessionError::TokenEndpoint {
                error,
                retry_at: Some(until.wall),
            },
            SessionError::Transport { failure, .. } => SessionError::Transport {
                failure,
                retry_at: Some(until.wall),
            },
            SessionError::ExpiredOnArrival { .. } => SessionError::ExpiredOnArrival {
                retry_at: Some(until.wall),
            },
            SessionError::InvalidTokenTimes { error, .. } => SessionError::InvalidTokenTimes {
                error,
                retry_at: Some(until.wall),
            },
            other => other,
        };
        self.push(SessionEvent::RefreshFailed {
            at: now,
            code: error.code(),
            backoff_ms: delay,
        });
        self.backoff = Some(Backoff {
            until,
            error: error.clone(),
            kind,
        });
        error
    }
}

/// The refresh time used once the issuer is known to re-serve cached tokens: shortly before
/// hard expiry (`min(5 s, a tenth of the usable span)` ahead), when a caching issuer will have
/// minted a new token.
fn late_refresh_at(l: &Lifetime) -> crate::lifetime::Deadline {
    let span = l.hard_expiry.remaining_ms(l.received).max(0);
    let lead = (span / 10).min(5_000);
    let late = crate::lifetime::Deadline {
        wall: l.hard_expiry.wall.minus(lead),
        mono: l.hard_expiry.mono.minus(lead),
    };
    crate::lifetime::Deadline {
        wall: late.wall.max(l.refresh_at.wall),
        mono: late.mono.max(l.refresh_at.mono),
    }
}

/// Explains a repeated 401 through the resource server's estimated clock.
fn diagnose(
    lt: &Lifetime,
    nbf_claim: Option<i64>,
    iat_ms: Option<i64>,
    at: Reading,
    issuer: &Estimate,
    resource: &Estimate,
) -> Diagnosis {
    let (low, high) = resource.server_time_bounds(at.wall);
    let (low, high) = (low.map(|t| t.0), high.map(|t| t.0));
    let nbf = lt.not_before_ms;
    // In order: past exp on its latest possible clock; before iat (when iat is the later
    // "not before"); before nbf on its earliest possible clock.
    let expired = matches!((lt.exp_ms, high), (Some(exp), Some(h)) if h >= exp);
    let before_iat =
        matches!((iat_ms, low), (Some(iat), Some(l)) if l < iat && nbf.is_none_or(|n| n <= iat));
    let before_nbf = matches!((nbf, low), (Some(n), Some(l)) if l < n);
    let finding = if expired {
        Some(SkewFinding::Expired)
    } else if before_iat {
        Some(SkewFinding::IssuedInFuture)
    } else if before_nbf {
        Some(SkewFinding::NotYetValid)
    } else {
        None
    };
    match finding {
        Some(finding) => Diagnosis::ClockSkew(Box::new(SkewEvidence {
            finding,
            resource: *resource,
            issuer: *issuer,
            resource_now_ms: (low, high),
            exp_ms: lt.exp_ms,
            nbf_ms: nbf_claim,
            iat_ms,
        })),
        None => Diagnosis::Unauthorized,
    }
}

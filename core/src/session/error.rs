//! The session's errors.

use super::TransportFailure;
use crate::identity::IdentityError;
use crate::lifetime::LifetimeError;
use crate::oauth::{ErrorClass, GrantError, TokenEndpointError};
use crate::time::UnixMillis;
use crate::ErrorCode;
use core::fmt;

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

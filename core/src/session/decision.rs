//! The session's answers: what a caller does before a request and after its response.

use super::{SessionError, TicketId, TokenId};
use crate::oauth::{Secret, TokenRequest};
use crate::skew::Estimate;
use crate::time::Reading;
use core::fmt;

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

/// An [`Authorization`] as one flat record, for hosts that expose it as an object with
/// optional fields (every binding): each field is set exactly for the variants that carry it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthorizationParts {
    /// [`Authorization::kind`].
    pub kind: &'static str,
    /// `ready`, `ready_and_refresh`: the header value.
    pub header: Option<Secret>,
    /// `ready`, `ready_and_refresh`: the token used.
    pub token_id: Option<TokenId>,
    /// `ready_and_refresh`, `refresh`: the refresh to perform.
    pub ticket: Option<Ticket>,
    /// `wait`: when to come back at the latest.
    pub until: Option<Reading>,
    /// `wait`: milliseconds until `until`.
    pub wait_ms: Option<i64>,
    /// `wait`: why.
    pub wait_reason: Option<WaitReason>,
    /// `failed`: what went wrong.
    pub error: Option<SessionError>,
}

impl Authorization {
    /// The answer as one flat record ([`AuthorizationParts`]).
    pub fn into_parts(self) -> AuthorizationParts {
        let mut out = AuthorizationParts {
            kind: self.kind(),
            header: None,
            token_id: None,
            ticket: None,
            until: None,
            wait_ms: None,
            wait_reason: None,
            error: None,
        };
        match self {
            Authorization::Ready { header, token_id } => {
                out.header = Some(header);
                out.token_id = Some(token_id);
            }
            Authorization::ReadyAndRefresh {
                header,
                token_id,
                ticket,
            } => {
                out.header = Some(header);
                out.token_id = Some(token_id);
                out.ticket = Some(ticket);
            }
            Authorization::Refresh { ticket } => out.ticket = Some(ticket),
            Authorization::Wait {
                until,
                wait_ms,
                reason,
            } => {
                out.until = Some(until);
                out.wait_ms = Some(wait_ms);
                out.wait_reason = Some(reason);
            }
            Authorization::Failed { error } => out.error = Some(error),
        }
        out
    }

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

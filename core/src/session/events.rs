//! What happened, for logs and timelines, and the counters.

use super::{RefreshReason, TicketId, TokenId};
use crate::time::Reading;

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
    /// The resource server's clock estimate alone judged a fresh token expired on arrival
    /// (the issuer's would use it): the estimate was dropped and the token is used, so the
    /// next response's `Date` samples that clock again (at most once per
    /// [`BackoffPolicy::config_retry_ms`](super::BackoffPolicy::config_retry_ms)).
    ResourceEstimateReset {
        /// When.
        at: Reading,
        /// The token now used.
        token: TokenId,
    },
}

impl SessionEvent {
    /// Stable name of the event: `ticket_issued`, `token_received`, `refresh_failed`,
    /// `token_reused`, `token_adopted`, `ticket_abandoned`, `rejected`, `clock_discontinuity`,
    /// `resource_estimate_reset`.
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
            SessionEvent::ResourceEstimateReset { .. } => "resource_estimate_reset",
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

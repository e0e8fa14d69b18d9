//! What happened in one cell, request by request and event by event: the data of the cell
//! chart ([`super::render_cell_html`], `tokenclock simulate --html FILE`) and of the text
//! timeline (`simulate --timeline`, [`super::Outcome::timeline`]).
//!
//! Recorded only when [`super::run_cell`] is asked for a timeline. Times are true time, in
//! milliseconds from the simulation's start (the axis every strategy shares).

use crate::session::SessionEvent;
use crate::time::Reading;
use core::fmt::Write as _;

/// How one user request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestResult {
    /// The first attempt succeeded.
    Ok,
    /// A retry succeeded (after a 401, or a retry the strategy asked for).
    Retried,
    /// The user saw it fail (after the allowed retry, or raised).
    Failed,
}

impl RequestResult {
    /// Every result, in drawing order (failures drawn last, on top).
    pub const ALL: [RequestResult; 3] = [
        RequestResult::Ok,
        RequestResult::Retried,
        RequestResult::Failed,
    ];

    /// `"ok"`, `"retried"` or `"failed"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestResult::Ok => "ok",
            RequestResult::Retried => "retried",
            RequestResult::Failed => "failed",
        }
    }
}

/// One user request of a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// When the user made it (true ms from the start).
    pub at_ms: i64,
    /// Latency the strategy added over the bare API round trip, ms (what the p99 is of).
    pub added_ms: i64,
    /// How it ended.
    pub result: RequestResult,
}

/// What kind of event a [`TimelineEvent`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A token request was sent (tokenclock: a refresh ticket was issued).
    Refresh,
    /// A token arrived.
    TokenReceived,
    /// A refresh failed; `span_ms` is the backoff it imposed.
    RefreshFailed,
    /// The resource server answered 401.
    Rejected,
    /// tokenclock noticed its wall clock step (wall and monotonic clocks disagreed).
    ClockStep,
    /// Anything else tokenclock's session reported (a cached token reused, a token adopted,
    /// a ticket abandoned, a resource-server estimate dropped).
    Other,
}

impl EventKind {
    /// Every kind, in the chart's legend order.
    pub const ALL: [EventKind; 6] = [
        EventKind::Refresh,
        EventKind::TokenReceived,
        EventKind::RefreshFailed,
        EventKind::Rejected,
        EventKind::ClockStep,
        EventKind::Other,
    ];

    /// A stable name: `refresh`, `token_received`, `refresh_failed`, `rejected`,
    /// `clock_step`, `other`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Refresh => "refresh",
            EventKind::TokenReceived => "token_received",
            EventKind::RefreshFailed => "refresh_failed",
            EventKind::Rejected => "rejected",
            EventKind::ClockStep => "clock_step",
            EventKind::Other => "other",
        }
    }
}

/// Something that happened besides a request: tokenclock's [`SessionEvent`]s; for the other
/// strategies (which have no session), their token requests and the 401s they got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    /// When (true ms from the start).
    pub at_ms: i64,
    /// What kind.
    pub kind: EventKind,
    /// How long it lasts, ms: the backoff of a failed refresh; 0 for an instant.
    pub span_ms: i64,
    /// What happened, in the text timeline's words (without the time).
    pub text: String,
}

impl TimelineEvent {
    pub(super) fn new(at_ms: i64, kind: EventKind, text: String) -> TimelineEvent {
        TimelineEvent {
            at_ms,
            kind,
            span_ms: 0,
            text,
        }
    }

    /// The event as a line of `simulate --timeline`: seconds from the start, then the text.
    pub fn line(&self) -> String {
        format!("{:>10.3}s  {}", self.at_ms as f64 / 1000.0, self.text)
    }
}

/// A session event as a timeline event; `origin` is the client's reading at true time 0.
pub(super) fn session_event(e: &SessionEvent, origin: Reading) -> TimelineEvent {
    let at = |r: &Reading| r.mono.since(origin.mono);
    let mut s = String::new();
    let (r, kind, span_ms) = match e {
        SessionEvent::TicketIssued {
            at: r,
            ticket,
            reason,
        } => {
            let _ = write!(s, "refresh #{} ({})", ticket.0, reason.as_str());
            (r, EventKind::Refresh, 0)
        }
        SessionEvent::TokenReceived {
            at: r,
            token,
            lifetime_ms,
            usable_ms,
        } => {
            let _ = write!(
                s,
                "token #{} received: lifetime {:.1}s, usable {:.1}s",
                token.0,
                *lifetime_ms as f64 / 1000.0,
                *usable_ms as f64 / 1000.0
            );
            (r, EventKind::TokenReceived, 0)
        }
        SessionEvent::RefreshFailed {
            at: r,
            code,
            backoff_ms,
        } => {
            let _ = write!(
                s,
                "refresh failed: {} (backoff {:.1}s)",
                code,
                *backoff_ms as f64 / 1000.0
            );
            (r, EventKind::RefreshFailed, (*backoff_ms).max(0))
        }
        SessionEvent::TokenAdopted { at: r, token } => {
            let _ = write!(s, "token #{} adopted from a shared record", token.0);
            (r, EventKind::Other, 0)
        }
        SessionEvent::ResourceEstimateReset { at: r, token } => {
            let _ = write!(
                s,
                "token #{} used though the resource server's estimate refused it: estimate dropped",
                token.0
            );
            (r, EventKind::Other, 0)
        }
        SessionEvent::TokenReused { at: r, token } => {
            let _ = write!(
                s,
                "issuer returned token #{} again (cached): refreshing late from now on",
                token.0
            );
            (r, EventKind::Other, 0)
        }
        SessionEvent::TicketAbandoned { at: r, ticket } => {
            let _ = write!(s, "refresh #{} abandoned", ticket.0);
            (r, EventKind::Other, 0)
        }
        SessionEvent::Rejected {
            at: r,
            token,
            verdict,
        } => {
            let _ = write!(s, "401 on token #{} -> {}", token.0, verdict);
            (r, EventKind::Rejected, 0)
        }
        SessionEvent::ClockDiscontinuity {
            at: r,
            wall_excess_ms,
        } => {
            let _ = write!(
                s,
                "local clock discontinuity: wall moved {:+.1}s more than monotonic",
                *wall_excess_ms as f64 / 1000.0
            );
            (r, EventKind::ClockStep, 0)
        }
    };
    TimelineEvent {
        at_ms: at(r),
        kind,
        span_ms,
        text: s,
    }
}

/// What a run records besides its counters, when asked for a timeline.
#[derive(Default)]
pub(super) struct Recorder {
    pub(super) on: bool,
    pub(super) requests: Vec<RequestRecord>,
    pub(super) events: Vec<TimelineEvent>,
}

impl Recorder {
    pub(super) fn new(on: bool) -> Recorder {
        Recorder {
            on,
            ..Recorder::default()
        }
    }

    pub(super) fn request(&mut self, at_ms: i64, added_ms: i64, retried: bool, failed: bool) {
        if self.on {
            let result = match (failed, retried) {
                (true, _) => RequestResult::Failed,
                (false, true) => RequestResult::Retried,
                (false, false) => RequestResult::Ok,
            };
            self.requests.push(RequestRecord {
                at_ms,
                added_ms,
                result,
            });
        }
    }

    /// An event of a strategy without a session; `text` is built only when recording.
    pub(super) fn event(&mut self, at_ms: i64, kind: EventKind, text: impl FnOnce() -> String) {
        if self.on {
            self.events.push(TimelineEvent::new(at_ms, kind, text()));
        }
    }
}

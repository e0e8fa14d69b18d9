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
//! Every decision is made in [`Session::authorize`] and the inputs; the transition rules are
//! listed on each of them. The module's files: `mod.rs` (the state, its construction, the
//! getters and `authorize`), `refresh.rs` (closing a ticket, the backoff, building the token
//! request), `response.rs` (the resource server's answers), `window.rs` (the hot path's ready window), `records.rs` (shared records for a
//! fleet), `held.rs` (a held token and its standing with the resource server), and the types
//! of the edge: `config.rs`, `decision.rs`, `error.rs`, `events.rs`. Nothing here ever formats a token or a
//! secret: they are [`Secret`]s and `Debug` redacts them.

mod config;
mod decision;
mod error;
mod events;
mod held;
mod records;
mod refresh;
mod response;
mod window;

use held::{HeldToken, Standing};

pub use config::{BackoffPolicy, SessionConfig, TicketId, TokenId};
pub use decision::*;
pub use error::SessionError;
pub use events::{SessionEvent, Stats};
pub use window::{ReadyWindow, MAX_READY_WINDOW_MS, WINDOW_SLACK_MS};

use crate::identity::{is_user_delegated, CredentialIdentity};
use crate::lifetime::{Lifetime, TokenState};
use crate::oauth::{build_token_request_with, Grant, IssuerNow, Secret, MAX_RESPONSE_BODY_LEN};
use crate::skew::{Estimate, Sample, SkewEstimator};
use crate::time::Reading;
use core::fmt;
use rand_core::RngCore;
use std::collections::VecDeque;

const MAX_EVENTS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Issuer,
    Resource,
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
    /// When the resource server's estimate was last dropped because it alone refused a fresh
    /// token (see [`SessionEvent::ResourceEstimateReset`]).
    resource_reset_at: Option<Reading>,
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

fn token_timeout_ok(ms: i64) -> bool {
    (1..=600_000).contains(&ms)
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
        build_token_request_with(
            &config.token_url,
            &config.auth,
            &config.grant,
            probe_time,
            &mut crate::rng::SplitMix64::new(0),
            config.request_options(),
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
            resource_reset_at: None,
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
        } else if let Some(tok) = self.current.as_ref().filter(|t| t.standing.is_served()) {
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
        if !now.is_valid() {
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
            .filter(|t| t.standing.is_served())
            .map(|t| {
                (
                    t.lifetime.state(now, &judge, &policy),
                    t.lifetime.until_valid_ms(now, &judge),
                )
            });
        // Rule 3: prefer the previous token while the new one is not yet valid.
        if let Some((state, until_valid)) = current_state {
            if until_valid > 0 && state != TokenState::Expired {
                if let Some(prev) = self.previous.as_ref().filter(|p| !p.standing.is_refused()) {
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

    /// The estimate that judges the token: the resource server's once it has samples, the
    /// issuer's until then (the resource server usually shares the issuer's time source).
    fn judge_estimate(&self, now: Reading) -> Estimate {
        if self.resource.is_empty() {
            self.issuer.estimate(now)
        } else {
            self.resource.estimate(now)
        }
    }

    /// Whether the resource server's estimate may be dropped now: it has samples, and it was
    /// not dropped within the last `config_retry_ms`.
    fn may_reset_resource(&self, now: Reading) -> bool {
        !self.resource.is_empty()
            && self
                .resource_reset_at
                .is_none_or(|t| now.mono.since(t.mono) >= self.config.backoff.config_retry_ms)
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
}

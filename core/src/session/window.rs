//! The hot path's answer: an interval in which `authorize` plainly answers `Ready`.

use super::{Session, TokenId};
use crate::lifetime::{Deadline, TokenState};
use crate::time::Reading;

/// Longest [`ReadyWindow`]: long enough that a host answers almost every request from it, short
/// enough that the estimators' drift widening within it stays under [`WINDOW_SLACK_MS`].
pub const MAX_READY_WINDOW_MS: i64 = 1_000;

/// Room kept before hard expiry and after `nbf` (ms): within one window the skew estimates widen
/// by their drift (200 ppm of a second by default: well under a millisecond, rounded up).
pub const WINDOW_SLACK_MS: i64 = 2;

/// An interval in which [`Session::authorize`] answers `Ready` with [`token`](Self::token), as
/// long as no other call reaches the session meanwhile. Hosts keep it beside the session and
/// answer a request from it with [`answer`](Self::answer) without entering the session (no
/// lock, no crossing into core), falling back to `authorize` when it says no. Before any call
/// on the session the host hands the window back ([`Session::resume`]), which brings the
/// session to where the `authorize` calls the window answered would have left it. Computed by
/// [`Session::ready_window`]; the decision stays core's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyWindow {
    /// The token `authorize` hands out in the window.
    pub token: TokenId,
    /// The reading the window was computed at (its start).
    pub from: Reading,
    /// The window's end, on both clocks (exclusive).
    pub until: Deadline,
    /// The latest reading answered from the window (`from` until then).
    pub last: Reading,
}

impl ReadyWindow {
    /// Whether `authorize(now)` answers `Ready` with this window's token and changes nothing
    /// but the latest reading: `now` is a valid reading, not before the latest answered one
    /// (monotonic) nor before [`from`](Self::from) (wall), before [`until`](Self::until) on both
    /// clocks, and continuous with the latest answered reading (no discontinuity, which the
    /// full decision would record).
    pub fn covers(&self, now: Reading) -> bool {
        now.is_valid()
            && now.mono >= self.last.mono
            && now.wall >= self.from.wall
            && now.mono < self.until.mono
            && now.wall < self.until.wall
            && now.discontinuity_since(&self.last).is_none()
    }

    /// The token for a request at `now` when the window [`covers`](Self::covers) it (and
    /// `now` becomes the latest answered reading); `None`: ask the session.
    pub fn answer(&mut self, now: Reading) -> Option<TokenId> {
        if !self.covers(now) {
            return None;
        }
        self.last = now;
        Some(self.token)
    }
}

impl Session {
    /// The [`ReadyWindow`] starting at `now`, the latest reading the session saw (after
    /// [`authorize(now)`](Self::authorize) answered `Ready`, or after an input at `now` such as
    /// an accepted response): `None` unless `authorize(now)` would answer `Ready` with the
    /// current token and change nothing, or when that answer could change on its own within a
    /// moment. The window ends at the refresh time, [`WINDOW_SLACK_MS`] before hard expiry, an
    /// outstanding ticket's timeout, or [`MAX_READY_WINDOW_MS`] after `now`, whichever is first.
    /// Changes nothing.
    pub fn ready_window(&self, now: Reading) -> Option<ReadyWindow> {
        if !now.is_valid() || self.last_reading != Some(now) {
            return None;
        }
        // `authorize(now)` would end a backoff that is over (a change): not plainly ready.
        if self
            .backoff
            .as_ref()
            .is_some_and(|b| b.until.has_passed(now))
        {
            return None;
        }
        let t = self.current.as_ref().filter(|t| t.standing.is_served())?;
        let judge = self.judge_estimate(now);
        if t.lifetime.state(now, &judge, &self.config.policy) != TokenState::Fresh {
            return None;
        }
        if t.lifetime.not_before_ms.is_some()
            && t.lifetime.until_valid_ms(now, &judge) > -WINDOW_SLACK_MS
        {
            return None;
        }
        let span = t
            .lifetime
            .until_hard_expiry_ms(now, &judge)
            .saturating_sub(WINDOW_SLACK_MS)
            .min(MAX_READY_WINDOW_MS);
        if span <= 0 {
            return None;
        }
        // An outstanding ticket's timeout: `authorize` would abandon it then (a change).
        let span = match self.ticket {
            Some(o) => span.min(
                self.config
                    .ticket_timeout_ms
                    .saturating_sub(now.mono.since(o.issued.mono)),
            ),
            None => span,
        };
        if span <= 0 {
            return None;
        }
        let refresh = t.lifetime.refresh_at;
        Some(ReadyWindow {
            token: t.id,
            from: now,
            until: Deadline {
                wall: refresh.wall.min(now.wall.plus(span)),
                mono: refresh.mono.min(now.mono.plus(span)),
            },
            last: now,
        })
    }

    /// Takes back a [`ReadyWindow`] the host answered requests from: the session is brought to
    /// where the `authorize` calls the window answered would have left it (their latest reading
    /// is the session's latest, a backoff that ended meanwhile is over). Hosts call it before
    /// any other call on the session. A window of another session state (not the latest one
    /// computed) must not be resumed.
    pub fn resume(&mut self, w: &ReadyWindow) {
        if w.last == w.from || !w.last.is_valid() {
            return;
        }
        self.issuer.assume_continuous(w.last);
        self.resource.assume_continuous(w.last);
        if self.last_reading.is_none_or(|l| w.last.mono >= l.mono) {
            self.last_reading = Some(w.last);
        }
        if self
            .backoff
            .as_ref()
            .is_some_and(|b| b.until.has_passed(w.last))
        {
            self.backoff = None;
        }
    }
}

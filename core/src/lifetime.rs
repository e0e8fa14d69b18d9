//! The expiry decision: when a token stops being safe to send, when to refresh it, and
//! whether its `nbf` has surely passed on the server's clock.
//!
//! A token's **deadline** is the earliest of
//! * `sent + expires_in` on the monotonic clock,
//! * `sent + expires_in` on the wall clock,
//! * the local time at which the server's clock reaches `exp` if the offset is the highest
//!   the estimate allows (worst case),
//!
//! so a skew estimate can shorten a token's use, never extend it past `expires_in`. With
//! neither `expires_in` nor `exp` an assumed lifetime applies. Deadlines are kept on both
//! clocks and a deadline has passed when *either* clock says so: a wall step or a
//! suspend/resume can only make a token be treated as expired earlier, never later.
//!
//! From the deadline: `hard_expiry = deadline − margin` (never handed out from then on) and
//! `refresh_at = receipt + (hard_expiry − receipt) × f` with `f` drawn from the refresh window
//! by the RNG passed in, so a fleet does not refresh in step.
//!
//! [`Lifetime::state`] re-checks `exp` against the *current* estimate of the server that
//! will judge the token, so learning later that the resource server runs ahead shortens the
//! token's use at once.

use crate::rng::unit_f64;
use crate::skew::Estimate;
use crate::time::{MonoMillis, Reading, UnixMillis, MAX_UNIX_MILLIS};
use crate::ErrorCode;
use core::fmt;
use rand_core::RngCore;

/// Default assumed lifetime when a token response has neither `expires_in` nor `exp`.
pub const DEFAULT_ASSUMED_LIFETIME_MS: i64 = 300_000;
/// Default cap on the margin (`min(10 s, lifetime / 10)`).
pub const DEFAULT_MARGIN_CAP_MS: i64 = 10_000;
/// Default longest wait for a token's `nbf` to pass on the server's clock.
pub const DEFAULT_MAX_WAIT_MS: i64 = 2_000;
/// Longest lifetime accepted from any source (one year); anything longer is an input error.
pub const MAX_LIFETIME_MS: i64 = 366 * 86_400_000;

/// The margin kept between hard expiry and the deadline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Margin {
    /// `min(cap_ms, lifetime / 10)`; the default cap is 10 s.
    TenthOfLifetime {
        /// Upper bound of the margin in milliseconds.
        cap_ms: i64,
    },
    /// A fixed margin (clamped to the lifetime).
    Fixed {
        /// Milliseconds.
        ms: i64,
    },
}

/// When a token becomes due for refresh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RefreshAt {
    /// At a fraction `f` of the way from receipt to hard expiry, `f` uniform in
    /// `[low, high]` (default 0.75–0.85).
    Fraction {
        /// Lowest fraction, in `(0, 1]`.
        low: f64,
        /// Highest fraction, in `[low, 1]`.
        high: f64,
    },
    /// A fixed time before hard expiry (clamped to receipt).
    Before {
        /// Milliseconds before hard expiry.
        ms: i64,
    },
}

/// Which claims make a token not yet usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotBefore {
    /// Only `nbf`.
    Nbf,
    /// `nbf` and `iat`: for resource servers that reject tokens issued in the future (the
    /// default, because many do).
    NbfAndIat,
}

/// Knobs of the expiry decision. `Default` gives the SPEC's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LifetimePolicy {
    /// The margin before the deadline.
    pub margin: Margin,
    /// When to refresh.
    pub refresh_at: RefreshAt,
    /// Lifetime assumed when neither `expires_in` nor `exp` is known.
    pub assumed_lifetime_ms: i64,
    /// Longest wait for `nbf` to pass on the server's clock; a token whose `nbf` is further
    /// away than this is used as is.
    pub max_wait_ms: i64,
    /// Which claims count as "not before".
    pub not_before: NotBefore,
}

impl Default for LifetimePolicy {
    fn default() -> Self {
        LifetimePolicy {
            margin: Margin::TenthOfLifetime {
                cap_ms: DEFAULT_MARGIN_CAP_MS,
            },
            refresh_at: RefreshAt::Fraction {
                low: 0.75,
                high: 0.85,
            },
            assumed_lifetime_ms: DEFAULT_ASSUMED_LIFETIME_MS,
            max_wait_ms: DEFAULT_MAX_WAIT_MS,
            not_before: NotBefore::NbfAndIat,
        }
    }
}

impl LifetimePolicy {
    /// Checks every knob's range.
    pub fn validate(&self) -> Result<(), LifetimeError> {
        match self.margin {
            Margin::TenthOfLifetime { cap_ms: v } | Margin::Fixed { ms: v }
                if !(0..=MAX_LIFETIME_MS).contains(&v) =>
            {
                return Err(LifetimeError::InvalidPolicy("margin"))
            }
            _ => {}
        }
        match self.refresh_at {
            RefreshAt::Fraction { low, high } if !(low > 0.0 && low <= high && high <= 1.0) => {
                return Err(LifetimeError::InvalidPolicy("refresh window"))
            }
            RefreshAt::Before { ms } if !(0..=MAX_LIFETIME_MS).contains(&ms) => {
                return Err(LifetimeError::InvalidPolicy("refresh lead time"))
            }
            _ => {}
        }
        if !(1..=MAX_LIFETIME_MS).contains(&self.assumed_lifetime_ms) {
            return Err(LifetimeError::InvalidPolicy("assumed lifetime"));
        }
        if !(0..=MAX_LIFETIME_MS).contains(&self.max_wait_ms) {
            return Err(LifetimeError::InvalidPolicy("max wait"));
        }
        Ok(())
    }

    fn margin_for(&self, lifetime_ms: i64) -> i64 {
        match self.margin {
            Margin::TenthOfLifetime { cap_ms } => cap_ms.min(lifetime_ms / 10),
            Margin::Fixed { ms } => ms.min(lifetime_ms),
        }
        .max(0)
    }
}

/// What a token response and its JWT claims say about its lifetime. All optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenTimes {
    /// `expires_in` from the token response, in milliseconds.
    pub expires_in_ms: Option<i64>,
    /// `exp` (server clock), milliseconds since the epoch.
    pub exp_ms: Option<i64>,
    /// `nbf` (server clock).
    pub nbf_ms: Option<i64>,
    /// `iat` (server clock).
    pub iat_ms: Option<i64>,
}

/// A lifetime could not be computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifetimeError {
    /// A time input is negative or absurd (names the field).
    OutOfRange(&'static str),
    /// `received` is earlier than `sent` on the monotonic clock.
    ReadingOrder,
    /// A policy knob is out of range (names it).
    InvalidPolicy(&'static str),
}

impl ErrorCode for LifetimeError {
    fn code(&self) -> &'static str {
        match self {
            LifetimeError::OutOfRange(_) => "time_out_of_range",
            LifetimeError::ReadingOrder => "reading_order",
            LifetimeError::InvalidPolicy(_) => "invalid_policy",
        }
    }
}

impl fmt::Display for LifetimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifetimeError::OutOfRange(what) => write!(f, "{what} is out of range"),
            LifetimeError::ReadingOrder => {
                f.write_str("the received reading is earlier than the sent reading")
            }
            LifetimeError::InvalidPolicy(what) => write!(f, "invalid policy: {what}"),
        }
    }
}

impl std::error::Error for LifetimeError {}

/// An instant kept on both local clocks. It has passed when either clock says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Deadline {
    /// On the wall clock.
    pub wall: UnixMillis,
    /// On the monotonic clock.
    pub mono: MonoMillis,
}

impl Deadline {
    /// True when either clock has reached the deadline.
    pub fn has_passed(&self, now: Reading) -> bool {
        now.wall >= self.wall || now.mono >= self.mono
    }

    /// Milliseconds until the deadline by whichever clock reaches it first (≤ 0 when passed).
    pub fn remaining_ms(&self, now: Reading) -> i64 {
        self.wall.since(now.wall).min(self.mono.since(now.mono))
    }

    fn minus(self, ms: i64) -> Deadline {
        Deadline {
            wall: self.wall.minus(ms),
            mono: self.mono.minus(ms),
        }
    }

    fn earliest(self, other: Deadline) -> Deadline {
        Deadline {
            wall: self.wall.min(other.wall),
            mono: self.mono.min(other.mono),
        }
    }
}

/// Which source bound the deadline at receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlineBasis {
    /// `sent + expires_in`.
    ExpiresIn,
    /// `exp` under the worst-case offset (it came before `sent + expires_in`).
    Exp,
    /// Neither was known: the assumed lifetime.
    Assumed,
    /// Adopted from another process's record (its issuer-clock deadline, worst case).
    Record,
}

impl DeadlineBasis {
    /// Stable lower-case name: `expires_in`, `exp`, `assumed`, `record`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeadlineBasis::ExpiresIn => "expires_in",
            DeadlineBasis::Exp => "exp",
            DeadlineBasis::Assumed => "assumed",
            DeadlineBasis::Record => "record",
        }
    }
}

/// The state of a token at one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Usable; no refresh due.
    Fresh,
    /// Usable; a refresh is due.
    Stale,
    /// Past hard expiry: never hand it out.
    Expired,
    /// Its `nbf` (or `iat`) has not surely passed on the server's clock, and will within the
    /// policy's `max_wait`: wait, then use it.
    NotYetValid {
        /// How long to wait.
        wait_ms: i64,
        /// The reading at which it will be usable.
        until: Reading,
    },
}

impl TokenState {
    /// Stable lower-case name: `fresh`, `stale`, `expired`, `not_yet_valid`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            TokenState::Fresh => "fresh",
            TokenState::Stale => "stale",
            TokenState::Expired => "expired",
            TokenState::NotYetValid { .. } => "not_yet_valid",
        }
    }

    /// True for `fresh` and `stale`.
    pub const fn is_usable(&self) -> bool {
        matches!(self, TokenState::Fresh | TokenState::Stale)
    }
}

/// The timeline of one token, computed when it arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lifetime {
    /// When the token request was sent.
    pub sent: Reading,
    /// When the token response was received.
    pub received: Reading,
    /// The deadline (earliest of the terms above).
    pub deadline: Deadline,
    /// Which term bound the deadline.
    pub basis: DeadlineBasis,
    /// Deadline − sent, in milliseconds (≥ 0).
    pub lifetime_ms: i64,
    /// The margin kept before the deadline.
    pub margin_ms: i64,
    /// Deadline − margin: never handed out from then on.
    pub hard_expiry: Deadline,
    /// When a refresh becomes due.
    pub refresh_at: Deadline,
    /// The token's `exp` (server clock), re-checked against the current estimate.
    pub exp_ms: Option<i64>,
    /// The latest of the "not before" claims the policy counts (server clock).
    pub not_before_ms: Option<i64>,
}

fn check_claim(v: Option<i64>, what: &'static str) -> Result<Option<i64>, LifetimeError> {
    match v {
        Some(x) if !(0..=MAX_UNIX_MILLIS).contains(&x) => Err(LifetimeError::OutOfRange(what)),
        _ => Ok(v),
    }
}

impl Lifetime {
    /// Computes a token's timeline.
    ///
    /// `sent`/`received` bracket the token request; `issuer` is the estimate of the clock that
    /// stamped `exp` at `received` (the token endpoint's, or a resource server's when it is
    /// known to share it). `rng` draws the refresh fraction.
    pub fn new(
        times: &TokenTimes,
        sent: Reading,
        received: Reading,
        issuer: &Estimate,
        policy: &LifetimePolicy,
        rng: &mut dyn RngCore,
    ) -> Result<Lifetime, LifetimeError> {
        policy.validate()?;
        if received.mono < sent.mono {
            return Err(LifetimeError::ReadingOrder);
        }
        let expires_in = match times.expires_in_ms {
            Some(x) if !(0..=MAX_LIFETIME_MS).contains(&x) => {
                return Err(LifetimeError::OutOfRange("expires_in"))
            }
            v => v,
        };
        let exp = check_claim(times.exp_ms, "exp")?;
        let nbf = check_claim(times.nbf_ms, "nbf")?;
        let iat = check_claim(times.iat_ms, "iat")?;

        let from_sent = |ms: i64| Deadline {
            wall: sent.wall.plus(ms),
            mono: sent.mono.plus(ms),
        };
        let by_expires_in = expires_in.map(from_sent);
        // Worst case: the server's clock is as far ahead as the estimate allows. Without an
        // upper bound, `exp` can only be placed by the best guess, and only matters when there
        // is no `expires_in` to rely on.
        let exp_local_wall = exp.and_then(|e| match issuer.high_ms {
            Some(high) => Some(e.saturating_sub(high)),
            None if by_expires_in.is_none() => Some(e.saturating_sub(issuer.offset_ms)),
            None => None,
        });
        let by_exp = exp_local_wall.map(|w| Deadline {
            wall: UnixMillis(w),
            mono: received.mono.plus(w.saturating_sub(received.wall.0)),
        });
        let (deadline, basis) = match (by_expires_in, by_exp) {
            (Some(a), Some(b)) if b.wall < a.wall || b.mono < a.mono => {
                (a.earliest(b), DeadlineBasis::Exp)
            }
            (Some(a), _) => (a, DeadlineBasis::ExpiresIn),
            (None, Some(b)) => (b, DeadlineBasis::Exp),
            (None, None) => (
                from_sent(policy.assumed_lifetime_ms),
                DeadlineBasis::Assumed,
            ),
        };
        Ok(Lifetime::finish(
            deadline, basis, sent, received, exp, nbf, iat, policy, rng,
        ))
    }

    /// A lifetime from a deadline already known in local time (a token adopted from another
    /// process's record, its issuer-clock deadline mapped through our own estimate). The token
    /// counts as sent and received at `now`.
    pub fn from_deadline(
        deadline: Deadline,
        now: Reading,
        times: &TokenTimes,
        policy: &LifetimePolicy,
        rng: &mut dyn RngCore,
    ) -> Result<Lifetime, LifetimeError> {
        policy.validate()?;
        let exp = check_claim(times.exp_ms, "exp")?;
        let nbf = check_claim(times.nbf_ms, "nbf")?;
        let iat = check_claim(times.iat_ms, "iat")?;
        Ok(Lifetime::finish(
            deadline,
            DeadlineBasis::Record,
            now,
            now,
            exp,
            nbf,
            iat,
            policy,
            rng,
        ))
    }

    /// Margin, hard expiry, refresh time and "not before" from a deadline.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        deadline: Deadline,
        basis: DeadlineBasis,
        sent: Reading,
        received: Reading,
        exp: Option<i64>,
        nbf: Option<i64>,
        iat: Option<i64>,
        policy: &LifetimePolicy,
        rng: &mut dyn RngCore,
    ) -> Lifetime {
        let lifetime_ms = deadline
            .wall
            .since(sent.wall)
            .min(deadline.mono.since(sent.mono))
            .max(0);
        let margin_ms = policy.margin_for(lifetime_ms);
        let hard_expiry = deadline.minus(margin_ms);
        let span = |d: Deadline| {
            d.wall
                .since(received.wall)
                .min(d.mono.since(received.mono))
                .max(0)
        };
        let until_hard = span(hard_expiry);
        let lead = match policy.refresh_at {
            RefreshAt::Fraction { low, high } => {
                let f = low + (high - low) * unit_f64(rng);
                // f ∈ (0, 1] and until_hard ≤ MAX_LIFETIME_MS: the product is exact enough.
                (until_hard as f64 * f).floor() as i64
            }
            RefreshAt::Before { ms } => until_hard.saturating_sub(ms).max(0),
        };
        let refresh_at = Deadline {
            wall: received.wall.plus(lead),
            mono: received.mono.plus(lead),
        };
        let not_before_ms = match policy.not_before {
            NotBefore::Nbf => nbf,
            NotBefore::NbfAndIat => nbf.max(iat),
        };
        Lifetime {
            sent,
            received,
            deadline,
            basis,
            lifetime_ms,
            margin_ms,
            hard_expiry,
            refresh_at,
            exp_ms: exp,
            not_before_ms,
        }
    }

    /// Re-bases the deadlines after a local clock discontinuity noticed at `at` was explained:
    /// if the wall clock was stepped, wall deadlines move with it; if the monotonic clock
    /// paused, monotonic deadlines move back by the pause. Either way both clocks agree again
    /// about the token. A token received after the discontinuity is left alone.
    pub fn rebase(&mut self, res: &crate::skew::Resolution) {
        if self.received.mono >= res.at.mono {
            return;
        }
        let x = res.discontinuity.wall_excess_ms;
        for d in [
            &mut self.deadline,
            &mut self.hard_expiry,
            &mut self.refresh_at,
        ] {
            match res.explanation {
                crate::skew::Explanation::WallStepped => d.wall = d.wall.plus(x),
                // Only a positive excess can be a pause; never move a deadline later.
                crate::skew::Explanation::MonotonicPaused if x > 0 => d.mono = d.mono.minus(x),
                crate::skew::Explanation::MonotonicPaused => {}
            }
        }
    }

    /// Milliseconds until hard expiry at `now` by the earliest of: either local clock, and
    /// `exp` on the server's clock under the worst case of `server` (≤ 0: expired).
    pub fn until_hard_expiry_ms(&self, now: Reading, server: &Estimate) -> i64 {
        let local = self.hard_expiry.remaining_ms(now);
        match (self.exp_ms, server.high_ms) {
            (Some(exp), Some(high)) => {
                let server_latest = now.wall.0.saturating_add(high);
                local.min(
                    exp.saturating_sub(self.margin_ms)
                        .saturating_sub(server_latest),
                )
            }
            _ => local,
        }
    }

    /// Milliseconds until `not_before` has surely passed on the server's clock (≤ 0: passed).
    /// With no lower bound on the offset, the best guess stands in for the worst case.
    pub fn until_valid_ms(&self, now: Reading, server: &Estimate) -> i64 {
        let Some(nb) = self.not_before_ms else {
            return 0;
        };
        let (server_earliest, _) = server.server_now(now.wall);
        nb.saturating_sub(server_earliest.0)
    }

    /// The token's state at `now`, judged against `server`: the current offset estimate of
    /// the server that will check the token.
    pub fn state(&self, now: Reading, server: &Estimate, policy: &LifetimePolicy) -> TokenState {
        if self.until_hard_expiry_ms(now, server) <= 0 {
            return TokenState::Expired;
        }
        let wait_ms = self.until_valid_ms(now, server);
        if wait_ms > 0 && wait_ms <= policy.max_wait_ms {
            return TokenState::NotYetValid {
                wait_ms,
                until: now.advanced(wait_ms),
            };
        }
        if self.refresh_at.has_passed(now) {
            TokenState::Stale
        } else {
            TokenState::Fresh
        }
    }

    /// Milliseconds from `now` until the state next changes on its own (refresh due, then
    /// hard expiry, or the end of a `nbf` wait); `None` once expired.
    pub fn next_change_ms(
        &self,
        now: Reading,
        server: &Estimate,
        policy: &LifetimePolicy,
    ) -> Option<i64> {
        let hard = self.until_hard_expiry_ms(now, server);
        if hard <= 0 {
            return None;
        }
        let wait = self.until_valid_ms(now, server);
        if wait > 0 && wait <= policy.max_wait_ms {
            return Some(wait.min(hard));
        }
        let refresh = self.refresh_at.remaining_ms(now);
        Some(if refresh > 0 { refresh.min(hard) } else { hard })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn r(wall: i64, mono: i64) -> Reading {
        Reading {
            wall: UnixMillis(wall),
            mono: MonoMillis(mono),
        }
    }

    const T0: i64 = 1_700_000_000_000;

    fn exact(offset: i64) -> Estimate {
        Estimate {
            offset_ms: offset,
            low_ms: Some(offset),
            high_ms: Some(offset),
            agreeing: 1,
            samples: 1,
        }
    }

    #[test]
    fn expires_in_anchored_at_sent_on_both_clocks() {
        let pol = LifetimePolicy {
            refresh_at: RefreshAt::Fraction {
                low: 0.8,
                high: 0.8,
            },
            ..Default::default()
        };
        let times = TokenTimes {
            expires_in_ms: Some(3_600_000),
            ..Default::default()
        };
        let lt = Lifetime::new(
            &times,
            r(T0, 0),
            r(T0 + 200, 200),
            &Estimate::UNKNOWN,
            &pol,
            &mut SplitMix64::new(1),
        )
        .unwrap();
        assert_eq!(
            lt.deadline,
            Deadline {
                wall: UnixMillis(T0 + 3_600_000),
                mono: MonoMillis(3_600_000)
            }
        );
        assert_eq!(lt.margin_ms, 10_000);
        assert_eq!(lt.hard_expiry.mono, MonoMillis(3_590_000));
        // 0.8 of (3_590_000 − 200)
        assert_eq!(lt.refresh_at.mono, MonoMillis(200 + 2_871_840));
        assert_eq!(lt.basis, DeadlineBasis::ExpiresIn);
    }

    #[test]
    fn skew_shortens_but_never_extends() {
        let pol = LifetimePolicy::default();
        let mut rng = SplitMix64::new(1);
        let times = TokenTimes {
            expires_in_ms: Some(60_000),
            exp_ms: Some(T0 + 60_000),
            ..Default::default()
        };
        // Server 30 s ahead: exp arrives 30 s early locally.
        let lt = Lifetime::new(&times, r(T0, 0), r(T0, 0), &exact(30_000), &pol, &mut rng).unwrap();
        assert_eq!(lt.deadline.wall, UnixMillis(T0 + 30_000));
        assert_eq!(lt.basis, DeadlineBasis::Exp);
        // Server 30 s behind: expires_in still caps it.
        let lt =
            Lifetime::new(&times, r(T0, 0), r(T0, 0), &exact(-30_000), &pol, &mut rng).unwrap();
        assert_eq!(lt.deadline.wall, UnixMillis(T0 + 60_000));
    }

    #[test]
    fn wall_step_back_cannot_extend() {
        let pol = LifetimePolicy::default();
        let times = TokenTimes {
            expires_in_ms: Some(300_000),
            ..Default::default()
        };
        let lt = Lifetime::new(
            &times,
            r(T0, 0),
            r(T0, 0),
            &Estimate::UNKNOWN,
            &pol,
            &mut SplitMix64::new(3),
        )
        .unwrap();
        // 299 s later by the monotonic clock, but the wall clock was stepped back 120 s.
        let now = r(T0 + 179_000, 299_000);
        assert_eq!(lt.state(now, &Estimate::UNKNOWN, &pol), TokenState::Expired);
    }

    #[test]
    fn nbf_wait_rule() {
        let pol = LifetimePolicy::default();
        let times = TokenTimes {
            expires_in_ms: Some(300_000),
            nbf_ms: Some(T0 + 1_500),
            iat_ms: Some(T0),
            ..Default::default()
        };
        let lt = Lifetime::new(
            &times,
            r(T0, 0),
            r(T0, 0),
            &exact(0),
            &pol,
            &mut SplitMix64::new(3),
        )
        .unwrap();
        assert_eq!(
            lt.state(r(T0, 0), &exact(0), &pol),
            TokenState::NotYetValid {
                wait_ms: 1_500,
                until: r(T0 + 1_500, 1_500)
            }
        );
        assert_eq!(
            lt.state(r(T0 + 1_500, 1_500), &exact(0), &pol),
            TokenState::Fresh
        );
        // Server 5 s behind: more than max_wait away, used as is.
        assert_eq!(lt.state(r(T0, 0), &exact(-5_000), &pol), TokenState::Fresh);
    }
}

//! Target `lifetime`: `Lifetime::new`, `state`, `next_change_ms`, `rebase` with arbitrary (and
//! absurd) times, estimates and policies (structured input, decoded with `arbitrary`).
//!
//! Input (`arbitrary` encoding): a [`LifetimeInput`], then [`Check`]s until the bytes run out.
//! Binding call: Python `tokenclock.Lifetime(...)` / `.state(...)`, JS the same in camelCase.
//!
//! Invariants: no panic, whatever the values (`i64::MIN`/`MAX`, NaN/∞ refresh fractions —
//! which the policy check must refuse). When the readings are valid (`Reading::new` accepts
//! them) and a lifetime is computed: `margin ≥ 0`, `lifetime ≥ 0`, hard expiry is not after the
//! deadline on either clock, and the refresh time not after hard expiry; at any valid reading,
//! a usable state (`fresh`/`stale`) means hard expiry has not passed on either clock and
//! `exp` is at least the margin away on the server's latest possible clock, and
//! `next_change_ms` is positive.

use arbitrary::{Arbitrary, Unstructured};
use tokenclock::lifetime::{Lifetime, LifetimePolicy, Margin, NotBefore, RefreshAt, TokenTimes};
use tokenclock::rng::SplitMix64;
use tokenclock::skew::{Estimate, Explanation, Resolution};
use tokenclock::time::{Discontinuity, MonoMillis, Reading, UnixMillis};

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct R {
    pub wall: i64,
    pub mono: i64,
}

impl R {
    fn get(self) -> Reading {
        Reading {
            wall: UnixMillis(self.wall),
            mono: MonoMillis(self.mono),
        }
    }
    fn valid(self) -> bool {
        Reading::new(self.wall, self.mono).is_ok()
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Est {
    pub offset: i64,
    pub low: Option<i64>,
    pub high: Option<i64>,
}

impl Est {
    fn get(self) -> Estimate {
        Estimate {
            offset_ms: self.offset,
            low_ms: self.low,
            high_ms: self.high,
            agreeing: 1,
            samples: 1,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum MarginIn {
    Tenth(i64),
    Fixed(i64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum RefreshIn {
    /// Raw `f64` bit patterns: NaN, infinities and negatives included.
    Fraction(u64, u64),
    Before(i64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct LifetimeInput {
    pub expires_in: Option<i64>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub sent: R,
    /// Milliseconds from `sent` to `received` on both clocks (absolute when `absurd`).
    pub rtt: R,
    pub absurd: bool,
    pub issuer: Est,
    pub margin: Option<MarginIn>,
    pub refresh: Option<RefreshIn>,
    pub assumed: Option<i64>,
    pub max_wait: Option<i64>,
    pub nbf_only: bool,
    pub seed: u64,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Check {
    /// The state at `received + after` (both clocks) against `server`.
    At {
        after: i64,
        wall_extra: i64,
        server: Est,
    },
    /// A resolved discontinuity.
    Rebase { at: R, excess: i64, paused: bool },
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = LifetimeInput::arbitrary(&mut u) else {
        return;
    };
    let mut policy = LifetimePolicy::default();
    match input.margin {
        Some(MarginIn::Tenth(v)) => policy.margin = Margin::TenthOfLifetime { cap_ms: v },
        Some(MarginIn::Fixed(v)) => policy.margin = Margin::Fixed { ms: v },
        None => {}
    }
    match input.refresh {
        Some(RefreshIn::Fraction(l, h)) => {
            policy.refresh_at = RefreshAt::Fraction {
                low: f64::from_bits(l),
                high: f64::from_bits(h),
            }
        }
        Some(RefreshIn::Before(ms)) => policy.refresh_at = RefreshAt::Before { ms },
        None => {}
    }
    if let Some(a) = input.assumed {
        policy.assumed_lifetime_ms = a;
    }
    if let Some(m) = input.max_wait {
        policy.max_wait_ms = m;
    }
    if input.nbf_only {
        policy.not_before = NotBefore::Nbf;
    }
    if let RefreshAt::Fraction { low, high } = policy.refresh_at {
        if !(low > 0.0 && low <= high && high <= 1.0) {
            assert!(
                policy.validate().is_err(),
                "refresh window {low}..{high} accepted"
            );
        }
    }
    let times = TokenTimes {
        expires_in_ms: input.expires_in,
        exp_ms: input.exp,
        nbf_ms: input.nbf,
        iat_ms: input.iat,
    };
    let sent = input.sent.get();
    let received = if input.absurd {
        input.rtt.get()
    } else {
        Reading {
            wall: sent.wall.plus(input.rtt.wall.rem_euclid(600_000)),
            mono: sent.mono.plus(input.rtt.mono.rem_euclid(600_000)),
        }
    };
    let issuer = input.issuer.get();
    let mut rng = SplitMix64::new(input.seed);
    let lt = Lifetime::new(&times, sent, received, &issuer, &policy, &mut rng);
    let Ok(mut lt) = lt else {
        if let Err(e) = lt {
            super::check_error(&e, "");
        }
        return;
    };
    let strict = !input.absurd
        && input.sent.valid()
        && Reading::new(received.wall.0, received.mono.0).is_ok();
    if strict {
        assert!(lt.margin_ms >= 0 && lt.lifetime_ms >= 0, "{lt:?}");
        assert!(
            lt.hard_expiry.wall <= lt.deadline.wall && lt.hard_expiry.mono <= lt.deadline.mono,
            "{lt:?}"
        );
        assert!(
            lt.refresh_at.wall <= lt.hard_expiry.wall.max(received.wall),
            "{lt:?}"
        );
        assert!(
            lt.refresh_at.mono <= lt.hard_expiry.mono.max(received.mono),
            "{lt:?}"
        );
    }
    let mut rebased = false;
    while !u.is_empty() {
        let Ok(check) = Check::arbitrary(&mut u) else {
            return;
        };
        match check {
            Check::At {
                after,
                wall_extra,
                server,
            } => {
                let now = received.advanced(after);
                let now = Reading {
                    wall: now.wall.plus(wall_extra),
                    mono: now.mono,
                };
                let server = server.get();
                // The estimate's conversions take any values (its fields are public).
                // Known finding fuzz-lifetime-ab3dee2fe6c2: `to_local_time` negates i64::MIN.
                if !(super::avoid_known() && server.offset_ms == i64::MIN) {
                    let _ = server.to_local_time(now.wall);
                }
                let _ = (
                    server.to_server_time(now.wall),
                    server.server_time_bounds(now.wall),
                    server.width_ms(),
                );
                let state = lt.state(now, &server, &policy);
                let next = lt.next_change_ms(now, &server, &policy);
                let _ = (
                    lt.until_hard_expiry_ms(now, &server),
                    lt.until_valid_ms(now, &server),
                );
                if state.is_usable() {
                    assert!(
                        !lt.hard_expiry.has_passed(now),
                        "usable after hard expiry: {lt:?} at {now:?}"
                    );
                    if let (Some(exp), Some(high), true) =
                        (lt.exp_ms, server.high_ms, strict && !rebased)
                    {
                        if Reading::new(now.wall.0, now.mono.0).is_ok()
                            && high.unsigned_abs() < 1 << 50
                        {
                            let server_latest = now.wall.0 + high;
                            assert!(
                                exp - server_latest > lt.margin_ms,
                                "usable within the margin of exp: {lt:?} at {now:?}"
                            );
                        }
                    }
                    assert!(
                        next.is_some_and(|n| n > 0),
                        "usable but next change {next:?}"
                    );
                }
            }
            Check::Rebase { at, excess, paused } => {
                // Known finding fuzz-lifetime-312df6e0553e: `rebase` negates i64::MIN.
                let excess = if super::avoid_known() {
                    excess.max(-i64::MAX)
                } else {
                    excess
                };
                let explanation = if paused {
                    Explanation::MonotonicPaused
                } else {
                    Explanation::WallStepped
                };
                lt.rebase(&Resolution {
                    at: at.get(),
                    discontinuity: Discontinuity {
                        wall_excess_ms: excess,
                    },
                    explanation,
                });
                rebased = true;
            }
        }
    }
}

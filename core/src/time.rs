//! Clock readings: wall time and monotonic time as distinct types.
//!
//! The core never reads a clock. Hosts read both of their clocks at once into a [`Reading`]
//! and hand it in. Wall time ([`UnixMillis`]) can jump (NTP steps, manual changes, VM
//! resume); monotonic time ([`MonoMillis`]) never jumps backwards but may pause while the
//! machine sleeps. Keeping them as different types means one cannot be subtracted from the
//! other by accident.

use core::fmt;

/// How far wall and monotonic elapsed time may disagree before we call it a discontinuity.
pub const DISCONTINUITY_THRESHOLD_MS: i64 = 1_000;

/// Largest wall time accepted anywhere: 9999-12-31T23:59:59.999Z. Anything beyond is an
/// input error, which keeps all arithmetic on these values far from `i64` overflow.
pub const MAX_UNIX_MILLIS: i64 = 253_402_300_799_999;

/// Largest monotonic reading accepted (about 285 000 years of uptime): same reason.
pub const MAX_MONO_MILLIS: i64 = 1 << 53;

/// Wall-clock time: milliseconds since the Unix epoch, as `Date.now()` or `time.time_ns() / 1e6`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub i64);

/// Monotonic time: milliseconds from an arbitrary origin, as `performance.now()` or
/// `time.monotonic_ns() / 1e6`. Only differences between two readings of the same host mean
/// anything.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoMillis(pub i64);

impl UnixMillis {
    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// This time plus `ms` milliseconds (saturating).
    #[must_use]
    pub const fn plus(self, ms: i64) -> Self {
        UnixMillis(self.0.saturating_add(ms))
    }
    /// This time minus `ms` milliseconds (saturating; never negates `ms`, so `i64::MIN` is safe).
    #[must_use]
    pub const fn minus(self, ms: i64) -> Self {
        UnixMillis(self.0.saturating_sub(ms))
    }
    /// `self - earlier` in milliseconds (saturating).
    pub const fn since(self, earlier: UnixMillis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The millisecond a host's fractional `seconds` since the epoch falls in: the floor of
    /// `seconds × 1000` (the product correctly rounded in `f64`, an error below 2⁻¹² ms at
    /// today's dates, far below the 2⁻²² s ≈ 0.24 µs a float of seconds resolves, so that
    /// `now_ms / 1000` gives back `now_ms`). `None` for NaN, infinities and values outside `i64`
    /// milliseconds.
    ///
    /// Why the floor: a check against a whole-millisecond bound `b` (`exp`, `nbf`, `iat`, all
    /// integer milliseconds) is `now ≥ b` or `now < b`, and for any real `now` both equal
    /// the same comparison of `⌊now⌋` — so a verifier that floors does not accept a token a
    /// sub-millisecond early (rounding to the nearest millisecond accepted `nbf` up to 0.5 ms
    /// early) nor reject one a sub-millisecond late.
    pub fn floor_from_seconds_f64(seconds: f64) -> Option<UnixMillis> {
        floor_millis(seconds * 1000.0)
    }

    /// [`UnixMillis::floor_from_seconds_f64`] for a fractional count of milliseconds (a JS
    /// `performance.timeOrigin + performance.now()`): its floor.
    pub fn floor_from_millis_f64(millis: f64) -> Option<UnixMillis> {
        floor_millis(millis)
    }
}

/// `⌊ms⌋` as `UnixMillis`, `None` when not finite or outside `i64`.
fn floor_millis(ms: f64) -> Option<UnixMillis> {
    let floor = ms.floor();
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if floor.is_finite() && (-LIMIT..LIMIT).contains(&floor) {
        // Integral and within i64 (checked above): the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        Some(UnixMillis(floor as i64))
    } else {
        None
    }
}

impl MonoMillis {
    /// Milliseconds since the host's arbitrary origin.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// This time plus `ms` milliseconds (saturating).
    #[must_use]
    pub const fn plus(self, ms: i64) -> Self {
        MonoMillis(self.0.saturating_add(ms))
    }
    /// This time minus `ms` milliseconds (saturating; never negates `ms`, so `i64::MIN` is safe).
    #[must_use]
    pub const fn minus(self, ms: i64) -> Self {
        MonoMillis(self.0.saturating_sub(ms))
    }
    /// `self - earlier` in milliseconds (saturating).
    pub const fn since(self, earlier: MonoMillis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Debug for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixMillis({})", self.0)
    }
}

impl fmt::Debug for MonoMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MonoMillis({})", self.0)
    }
}

/// Both of the host's clocks read at (as nearly as possible) the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Reading {
    /// Wall-clock time.
    pub wall: UnixMillis,
    /// Monotonic time.
    pub mono: MonoMillis,
}

/// A reading that a host passed in was outside the accepted range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeRangeError {
    /// Which value was wrong (`"wall"`, `"mono"`, or a field name).
    pub what: &'static str,
    /// The value given.
    pub value: i64,
}

impl fmt::Display for TimeRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} time {} ms is out of range", self.what, self.value)
    }
}

impl std::error::Error for TimeRangeError {}

impl Reading {
    /// A reading from its two parts, validated: wall time within `0..=MAX_UNIX_MILLIS`,
    /// monotonic time within `0..=MAX_MONO_MILLIS`.
    pub fn new(wall_ms: i64, mono_ms: i64) -> Result<Self, TimeRangeError> {
        if !(0..=MAX_UNIX_MILLIS).contains(&wall_ms) {
            return Err(TimeRangeError {
                what: "wall",
                value: wall_ms,
            });
        }
        if !(0..=MAX_MONO_MILLIS).contains(&mono_ms) {
            return Err(TimeRangeError {
                what: "mono",
                value: mono_ms,
            });
        }
        Ok(Reading {
            wall: UnixMillis(wall_ms),
            mono: MonoMillis(mono_ms),
        })
    }

    /// Whether both parts are within the ranges [`Reading::new`] accepts. The fields are
    /// public, so a reading can be built without that check; every state machine refuses a
    /// reading for which this is false (it could only come from a broken host clock, and
    /// arithmetic on it would mean nothing).
    pub const fn is_valid(&self) -> bool {
        self.wall.0 >= 0
            && self.wall.0 <= MAX_UNIX_MILLIS
            && self.mono.0 >= 0
            && self.mono.0 <= MAX_MONO_MILLIS
    }

    /// Both clocks advanced by `ms` (a test and simulation helper; saturating).
    #[must_use]
    pub const fn advanced(self, ms: i64) -> Self {
        Reading {
            wall: self.wall.plus(ms),
            mono: self.mono.plus(ms),
        }
    }

    /// Compares the elapsed time on the two clocks since `earlier`.
    ///
    /// Returns `None` when they agree within [`DISCONTINUITY_THRESHOLD_MS`], otherwise the
    /// discontinuity: how much further the wall clock moved than the monotonic one.
    pub fn discontinuity_since(&self, earlier: &Reading) -> Option<Discontinuity> {
        let wall = self.wall.since(earlier.wall);
        let mono = self.mono.since(earlier.mono);
        let excess = wall.saturating_sub(mono);
        (excess.saturating_abs() > DISCONTINUITY_THRESHOLD_MS).then_some(Discontinuity {
            wall_excess_ms: excess,
        })
    }
}

/// The two clocks disagreed about how much time passed between two readings.
///
/// Two explanations fit and we cannot tell them apart: the wall clock was stepped by
/// `wall_excess_ms`, or (when positive) the monotonic clock paused while the machine slept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discontinuity {
    /// Wall elapsed minus monotonic elapsed, in milliseconds. Positive: the wall clock moved
    /// further (stepped forward, or the machine was suspended); negative: stepped back.
    pub wall_excess_ms: i64,
}

#[cfg(test)]
mod tests {

    #[test]
    fn floor_from_fractional_times_is_exact() {
        let f = UnixMillis::floor_from_seconds_f64;
        assert_eq!(f(1_700_000_000.0), Some(UnixMillis(1_700_000_000_000)));
        // 0.4 ms before a whole millisecond stays in the millisecond before (rounding to the
        // nearest would have given the next one).
        assert_eq!(f(1_700_000_000.000_6), Some(UnixMillis(1_700_000_000_000)));
        assert_eq!(f(1_699_999_999.999_6), Some(UnixMillis(1_699_999_999_999)));
        assert_eq!(f(-0.0004), Some(UnixMillis(-1)));
        assert_eq!(f(-0.25), Some(UnixMillis(-250)));
        assert_eq!(f(-0.001), Some(UnixMillis(-1)));
        // A whole number of milliseconds divided by 1000 comes back whole.
        assert_eq!(
            f(1_700_003_660_001.0 / 1000.0),
            Some(UnixMillis(1_700_003_660_001))
        );
        assert_eq!(f(0.0), Some(UnixMillis(0)));
        assert_eq!(f(5e-324), Some(UnixMillis(0)));
        assert_eq!(f(-5e-324), Some(UnixMillis(-1)));
        assert_eq!(f(f64::NAN), None);
        assert_eq!(f(f64::INFINITY), None);
        assert_eq!(f(1e300), None);
        // The largest float below 0.001 s stays below one millisecond.
        let below = f64::from_bits(0.001f64.to_bits() - 1);
        assert_eq!(f(below), Some(UnixMillis(0)));
        assert_eq!(f(0.001), Some(UnixMillis(1)));
        let g = UnixMillis::floor_from_millis_f64;
        assert_eq!(g(1_700_000_000_000.6), Some(UnixMillis(1_700_000_000_000)));
        assert_eq!(g(1_700_000_000_001.0), Some(UnixMillis(1_700_000_000_001)));
        assert_eq!(g(-0.5), Some(UnixMillis(-1)));
    }

    use super::*;

    #[test]
    fn discontinuity_threshold_is_exclusive() {
        let a = Reading::new(1_000_000, 5_000).unwrap();
        let b = Reading {
            wall: UnixMillis(1_011_000),
            mono: MonoMillis(15_000),
        };
        assert_eq!(b.discontinuity_since(&a), None);
        let c = Reading {
            wall: UnixMillis(1_011_001),
            mono: MonoMillis(15_000),
        };
        assert_eq!(
            c.discontinuity_since(&a),
            Some(Discontinuity {
                wall_excess_ms: 1_001
            })
        );
        let d = Reading {
            wall: UnixMillis(880_000),
            mono: MonoMillis(15_000),
        };
        assert_eq!(
            d.discontinuity_since(&a),
            Some(Discontinuity {
                wall_excess_ms: -130_000
            })
        );
    }

    #[test]
    fn readings_are_range_checked() {
        assert!(Reading::new(-1, 0).is_err());
        assert!(Reading::new(0, -1).is_err());
        assert!(Reading::new(MAX_UNIX_MILLIS + 1, 0).is_err());
        assert!(Reading::new(MAX_UNIX_MILLIS, MAX_MONO_MILLIS).is_ok());
    }

    #[test]
    fn is_valid_agrees_with_new() {
        let edges = [
            i64::MIN,
            -1,
            0,
            1,
            MAX_MONO_MILLIS,
            MAX_MONO_MILLIS + 1,
            MAX_UNIX_MILLIS,
            MAX_UNIX_MILLIS + 1,
            i64::MAX,
        ];
        for wall in edges {
            for mono in edges {
                let r = Reading {
                    wall: UnixMillis(wall),
                    mono: MonoMillis(mono),
                };
                assert_eq!(
                    r.is_valid(),
                    Reading::new(wall, mono).is_ok(),
                    "{wall} {mono}"
                );
            }
        }
    }
}

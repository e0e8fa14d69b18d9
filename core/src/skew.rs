//! Clock-offset estimation: where the server's clock is relative to ours.
//!
//! Every observation becomes a [`Sample`]: an interval that must contain the offset
//! (`server − local`, RFC 5905 sign). A [`SkewEstimator`] keeps the recent samples of one
//! origin and intersects them with Marzullo's algorithm, tolerating a minority of false
//! samples, widening old ones by a drift bound and widening all of them across a local clock
//! discontinuity. The result is an [`Estimate`]: a best `offset` and the bounds `low..=high`.
//!
//! Sources:
//! * an HTTP `Date` header (1 s resolution): the server's clock read a value in
//!   `[date, date + 1 s)` at an instant between our `sent` and `received` readings, so
//!   `offset ∈ [date − received, date + 1 s − sent]`;
//! * a token's `iat`: the server's clock had reached `iat` by the time it answered, so
//!   `offset ≥ iat − received`. Only a lower bound: an issuer may hand out a cached token
//!   minted long ago, whose `iat` says nothing about how far ahead the issuer might be;
//! * SNTP: `offset ∈ [θ − δ/2, θ + δ/2]` (RFC 5905 §8).
//!
//! Many `Date` samples taken at different sub-second phases narrow the 1 s resolution;
//! [`SkewEstimator::next_date_probe`] says when to send the next request so each sample
//! halves the interval.

use crate::sntp::SntpReply;
use crate::time::{Discontinuity, Reading, UnixMillis, MAX_UNIX_MILLIS};
use crate::ErrorCode;
use core::fmt;

/// Default bound on how fast two clocks drift apart: 200 ppm (0.72 s per hour), a generous
/// bound for quartz oscillators without NTP discipline.
pub const DEFAULT_DRIFT_PPM: u32 = 200;

/// Default number of samples an estimator keeps (the newest win).
pub const DEFAULT_MAX_SAMPLES: usize = 16;

/// Largest drift bound accepted (10 %); larger values are clamped.
pub const MAX_DRIFT_PPM: u32 = 100_000;

/// Samples handled without a heap allocation when estimating.
const STACK_SAMPLES: usize = 32;

/// Largest number of samples an estimator can be configured to keep.
pub const MAX_SAMPLES_LIMIT: usize = 1_024;

/// Resolution of an HTTP `Date` header.
pub const DATE_RESOLUTION_MS: i64 = 1_000;

/// Where a sample came from (for reports; the estimator treats all kinds alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleSource {
    /// An HTTP `Date` response header.
    DateHeader,
    /// A token's `iat` claim (lower bound only).
    Iat,
    /// An SNTP reply.
    Sntp,
    /// Bounds given directly by the host (e.g. imported from another process).
    Manual,
}

impl SampleSource {
    /// Stable lower-case name: `date`, `iat`, `sntp`, `manual`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SampleSource::DateHeader => "date",
            SampleSource::Iat => "iat",
            SampleSource::Sntp => "sntp",
            SampleSource::Manual => "manual",
        }
    }
}

/// One observation: the offset lay in `[low_ms, high_ms]` at the reading `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Lowest possible offset (`server − local`), milliseconds.
    pub low_ms: i64,
    /// Highest possible offset; `None` when the sample bounds it from below only.
    pub high_ms: Option<i64>,
    /// Our reading when the sample was complete (the response's receipt).
    pub at: Reading,
    /// Round-trip time of the exchange on the monotonic clock, when there was one.
    pub rtt_ms: Option<i64>,
    /// Where it came from.
    pub source: SampleSource,
}

/// A sample could not be formed from the inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkewError {
    /// `received` is earlier than `sent` on the monotonic clock.
    ReadingOrder,
    /// Wall and monotonic clocks disagreed between `sent` and `received`: the exchange
    /// cannot be placed on one timeline.
    ClockDiscontinuity,
    /// A time value (server time, resolution, bound) is outside the accepted range, or
    /// `low > high`.
    InvalidSample(&'static str),
}

impl ErrorCode for SkewError {
    fn code(&self) -> &'static str {
        match self {
            SkewError::ReadingOrder => "reading_order",
            SkewError::ClockDiscontinuity => "clock_discontinuity",
            SkewError::InvalidSample(_) => "invalid_sample",
        }
    }
}

impl fmt::Display for SkewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkewError::ReadingOrder => {
                f.write_str("the received reading is earlier than the sent reading")
            }
            SkewError::ClockDiscontinuity => {
                f.write_str("the local clocks jumped during the exchange; sample discarded")
            }
            SkewError::InvalidSample(what) => write!(f, "invalid sample: {what}"),
        }
    }
}

impl std::error::Error for SkewError {}

/// Largest absolute offset a sample may claim (~100 years): beyond it the input is nonsense
/// and accepting it would only invite overflow.
const MAX_ABS_OFFSET_MS: i64 = 100 * 366 * 86_400_000;

impl Sample {
    /// A sample from a server clock value with the given resolution, read at some instant
    /// between `sent` and `received`.
    ///
    /// The exchange is placed on one timeline anchored at `received.wall`, using the
    /// monotonic clock for its duration, so a slewing wall clock cannot distort it.
    pub fn from_server_time(
        server: UnixMillis,
        resolution_ms: i64,
        sent: Reading,
        received: Reading,
        source: SampleSource,
    ) -> Result<Sample, SkewError> {
        if !(0..=MAX_UNIX_MILLIS).contains(&server.0) {
            return Err(SkewError::InvalidSample("server time out of range"));
        }
        if !(0..=86_400_000).contains(&resolution_ms) {
            return Err(SkewError::InvalidSample("resolution out of range"));
        }
        let rtt = received.mono.since(sent.mono);
        if rtt < 0 {
            return Err(SkewError::ReadingOrder);
        }
        if received.discontinuity_since(&sent).is_some() {
            return Err(SkewError::ClockDiscontinuity);
        }
        let recv_wall = received.wall.0;
        let sent_wall = recv_wall.saturating_sub(rtt);
        Sample::checked(
            server.0.saturating_sub(recv_wall),
            Some(
                server
                    .0
                    .saturating_add(resolution_ms)
                    .saturating_sub(sent_wall),
            ),
            received,
            Some(rtt),
            source,
        )
    }

    /// A sample from an HTTP `Date` header value (already parsed, see
    /// [`crate::httpdate::parse_http_date`]).
    pub fn from_date_header(
        date: UnixMillis,
        sent: Reading,
        received: Reading,
    ) -> Result<Sample, SkewError> {
        Sample::from_server_time(
            date,
            DATE_RESOLUTION_MS,
            sent,
            received,
            SampleSource::DateHeader,
        )
    }

    /// A lower-bound-only sample from a token's `iat`, received at `received`.
    pub fn from_iat(iat_ms: i64, received: Reading) -> Result<Sample, SkewError> {
        if !(0..=MAX_UNIX_MILLIS).contains(&iat_ms) {
            return Err(SkewError::InvalidSample("iat out of range"));
        }
        Sample::checked(
            iat_ms.saturating_sub(received.wall.0),
            None,
            received,
            None,
            SampleSource::Iat,
        )
    }

    /// A sample from a checked SNTP reply received at `received`.
    ///
    /// The interval is `θ ± δ/2`, rounded outwards to whole milliseconds, plus 1 ms either
    /// side for the millisecond resolution of our own timestamps.
    pub fn from_sntp(reply: &SntpReply, received: Reading) -> Result<Sample, SkewError> {
        let half_delay_us = reply.delay_us.max(0) / 2 + 1;
        let low_us = reply.offset_us.saturating_sub(half_delay_us);
        let high_us = reply.offset_us.saturating_add(half_delay_us);
        Sample::checked(
            low_us.div_euclid(1000).saturating_sub(1),
            Some(high_us.div_euclid(1000).saturating_add(2)),
            received,
            Some(reply.delay_us.max(0) / 1000),
            SampleSource::Sntp,
        )
    }

    /// A sample with bounds given directly.
    pub fn manual(low_ms: i64, high_ms: Option<i64>, at: Reading) -> Result<Sample, SkewError> {
        Sample::checked(low_ms, high_ms, at, None, SampleSource::Manual)
    }

    fn checked(
        low_ms: i64,
        high_ms: Option<i64>,
        at: Reading,
        rtt_ms: Option<i64>,
        source: SampleSource,
    ) -> Result<Sample, SkewError> {
        let in_range = |v: i64| (-MAX_ABS_OFFSET_MS..=MAX_ABS_OFFSET_MS).contains(&v);
        if !in_range(low_ms) || !high_ms.is_none_or(in_range) {
            return Err(SkewError::InvalidSample("offset out of range"));
        }
        if high_ms.is_some_and(|h| h < low_ms) {
            return Err(SkewError::InvalidSample("low bound above high bound"));
        }
        Ok(Sample {
            low_ms,
            high_ms,
            at,
            rtt_ms,
            source,
        })
    }
}

/// The offset estimate at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Best value of `server − local` in milliseconds: the middle of `low..=high` when both
    /// are known, otherwise the value in the interval nearest to zero (with no evidence we do
    /// not assume our clock is wrong).
    pub offset_ms: i64,
    /// Lowest possible offset; `None` when nothing bounds it from below.
    pub low_ms: Option<i64>,
    /// Highest possible offset; `None` when nothing bounds it from above.
    pub high_ms: Option<i64>,
    /// How many samples agree on `low..=high`.
    pub agreeing: u32,
    /// How many samples the estimator holds.
    pub samples: u32,
}

impl Estimate {
    /// The estimate of an estimator that has seen nothing: offset 0, unbounded.
    pub const UNKNOWN: Estimate = Estimate {
        offset_ms: 0,
        low_ms: None,
        high_ms: None,
        agreeing: 0,
        samples: 0,
    };

    /// True when both bounds are known.
    pub const fn is_bounded(&self) -> bool {
        self.low_ms.is_some() && self.high_ms.is_some()
    }

    /// Width of `low..=high` in milliseconds, when bounded.
    pub fn width_ms(&self) -> Option<i64> {
        Some(self.high_ms?.saturating_sub(self.low_ms?))
    }

    /// Best guess of the server's clock when ours reads `local`.
    pub const fn to_server_time(&self, local: UnixMillis) -> UnixMillis {
        local.plus(self.offset_ms)
    }

    /// Best guess of our clock when the server's reads `server`.
    pub const fn to_local_time(&self, server: UnixMillis) -> UnixMillis {
        server.minus(self.offset_ms)
    }

    /// Earliest and latest the server's clock may read when ours reads `local`, with the best
    /// guess standing in for an unknown bound: what every decision that must place the
    /// server's "now" uses (the issuer's time for an assertion, when a `Retry-After` date has
    /// surely passed, when `nbf` has).
    pub const fn server_now(&self, local: UnixMillis) -> (UnixMillis, UnixMillis) {
        let low = match self.low_ms {
            Some(l) => l,
            None => self.offset_ms,
        };
        let high = match self.high_ms {
            Some(h) => h,
            None => self.offset_ms,
        };
        (local.plus(low), local.plus(high))
    }

    /// Earliest and latest the server's clock may read when ours reads `local`.
    pub fn server_time_bounds(
        &self,
        local: UnixMillis,
    ) -> (Option<UnixMillis>, Option<UnixMillis>) {
        (
            self.low_ms.map(|l| local.plus(l)),
            self.high_ms.map(|h| local.plus(h)),
        )
    }
}

/// A stored sample, as it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    low: i64,
    high: Option<i64>,
    at: Reading,
    rtt: Option<i64>,
    source: SampleSource,
    /// Sequence number of the first jump *not* before this sample: the sample was taken after
    /// every jump with a smaller `seq`, before every other.
    epoch: u64,
}

/// How a local clock discontinuity turned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Explanation {
    /// The wall clock was stepped: offsets measured before it shift by `−wall_excess`.
    WallStepped,
    /// The monotonic clock paused (suspend/resume) while the wall clock kept time: offsets
    /// measured before it still hold.
    MonotonicPaused,
}

/// A discontinuity noticed between two readings, and what we know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Jump {
    /// Order of the jumps noticed by this estimator (0, 1, 2, ...).
    seq: u64,
    from: Reading,
    to: Reading,
    d: Discontinuity,
    resolved: Option<Explanation>,
}

impl Jump {
    /// True when `s` was taken after this jump.
    fn precedes(&self, s: &Stored) -> bool {
        self.seq < s.epoch
    }

    /// For a sample that arrives late (its reading is older than the latest one seen): was it
    /// taken after this jump? Decided from the clocks; within the jump's own monotonic
    /// millisecond the reading belongs to the side whose wall−monotonic relation it shares.
    fn is_after(&self, at: Reading) -> bool {
        if at.mono < self.from.mono {
            false
        } else if at.mono > self.to.mono {
            true
        } else {
            // Within [from, to] on the monotonic clock (several steps can happen within one
            // monotonic millisecond), the wall clock tells: the reading belongs to the side
            // whose wall−monotonic relation it shares.
            let rel = |r: Reading| i128::from(r.wall.0) - i128::from(r.mono.0);
            (rel(at) - rel(self.to)).abs() < (rel(at) - rel(self.from)).abs()
        }
    }

    /// Maps bounds measured before the jump to bounds valid after it. While the monotonic
    /// clock may have paused, the paused time (the wall excess) also drifts.
    fn carry(
        &self,
        (low, high): (i64, Option<i64>),
        explanation: Option<Explanation>,
        drift_ppm: u32,
    ) -> (i64, Option<i64>) {
        let x = self.d.wall_excess_ms;
        let paused_drift = if x > 0 { drift_ms(x, drift_ppm) } else { 0 };
        match explanation {
            Some(Explanation::MonotonicPaused) => (
                low.saturating_sub(paused_drift),
                high.map(|h| h.saturating_add(paused_drift)),
            ),
            Some(Explanation::WallStepped) => {
                (low.saturating_sub(x), high.map(|h| h.saturating_sub(x)))
            }
            // A wall clock that gained less than the monotonic one (excess ≤ 0) was stepped
            // back: a suspend only ever makes the wall clock gain.
            None if x <= 0 => (low.saturating_sub(x), high.map(|h| h.saturating_sub(x))),
            // Unknown: cover both explanations.
            None => (
                low.min(low.saturating_sub(x)).saturating_sub(paused_drift),
                high.map(|h| h.max(h.saturating_sub(x)).saturating_add(paused_drift)),
            ),
        }
    }
}

/// `ceil(ms · ppm / 10⁶)`, computed without overflow.
fn drift_ms(ms: i64, drift_ppm: u32) -> i64 {
    let ms = i128::from(ms.saturating_abs());
    ((ms * i128::from(drift_ppm) + 999_999) / 1_000_000).min(i128::from(i64::MAX)) as i64
}

/// The middle of `low..=high` without overflow.
fn midpoint(low: i64, high: i64) -> i64 {
    ((i128::from(low) + i128::from(high)).div_euclid(2)) as i64
}

/// Drift widening of `bounds` for a sample completed at `at` after an exchange of `rtt`,
/// evaluated at `now`. The server may have read its clock up to one round trip before `at`,
/// so the age counts from there.
fn drifted(
    (low, high): (i64, Option<i64>),
    at: Reading,
    rtt: Option<i64>,
    now: Reading,
    drift_ppm: u32,
) -> (i64, Option<i64>) {
    let age = now
        .mono
        .since(at.mono)
        .saturating_abs()
        .saturating_add(rtt.unwrap_or(0).max(0));
    let w = drift_ms(age, drift_ppm);
    (low.saturating_sub(w), high.map(|h| h.saturating_add(w)))
}

/// Configuration of a [`SkewEstimator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkewConfig {
    /// Drift bound in parts per million (default [`DEFAULT_DRIFT_PPM`]).
    pub drift_ppm: u32,
    /// Samples kept (default [`DEFAULT_MAX_SAMPLES`], at least 1).
    pub max_samples: usize,
}

impl Default for SkewConfig {
    fn default() -> Self {
        SkewConfig {
            drift_ppm: DEFAULT_DRIFT_PPM,
            max_samples: DEFAULT_MAX_SAMPLES,
        }
    }
}

/// When to send the next `Date`-header probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Milliseconds to wait from the reading passed in before sending the request.
    pub wait_ms: i64,
    /// The same instant as a reading (both clocks advanced by `wait_ms`).
    pub send_at: Reading,
}

/// Most discontinuities remembered; older ones are forgotten together with the samples
/// taken before them.
const MAX_JUMPS: usize = 8;

/// The offset estimator for one origin (an issuer or a resource server).
///
/// Inputs: [`add`](Self::add) samples and [`observe`](Self::observe) readings (to notice
/// local clock discontinuities). Output: [`estimate`](Self::estimate) at a reading.
///
/// A local discontinuity has two explanations (wall stepped, or monotonic paused). Until a
/// sample taken after it tells them apart, samples taken before it count for both. A sample
/// from *any* origin can tell them apart, because the question is about our own clock: hosts
/// with several estimators pass [`take_resolutions`](Self::take_resolutions) of one to
/// [`apply_resolution`](Self::apply_resolution) of the others (`Session` does).
#[derive(Clone, Debug, Default)]
pub struct SkewEstimator {
    config: SkewConfig,
    samples: Vec<Stored>,
    jumps: Vec<Jump>,
    last: Option<Reading>,
    discontinuities: u32,
    resolutions: Vec<Resolution>,
    /// `seq` of the next jump noticed.
    next_seq: u64,
}

/// A local clock discontinuity that a sample explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The reading at which the discontinuity was noticed.
    pub at: Reading,
    /// What it was.
    pub discontinuity: Discontinuity,
    /// How it is explained.
    pub explanation: Explanation,
}

impl SkewEstimator {
    /// An empty estimator with the default configuration.
    pub fn new() -> Self {
        SkewEstimator::default()
    }

    /// An empty estimator with the given configuration.
    pub fn with_config(config: SkewConfig) -> Self {
        SkewEstimator {
            config: SkewConfig {
                max_samples: config.max_samples.clamp(1, MAX_SAMPLES_LIMIT),
                drift_ppm: config.drift_ppm.min(MAX_DRIFT_PPM),
            },
            ..Self::default()
        }
    }

    /// The configuration.
    pub fn config(&self) -> SkewConfig {
        self.config
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Local clock discontinuities noticed so far.
    pub fn discontinuities(&self) -> u32 {
        self.discontinuities
    }

    /// Drops every sample (e.g. after the server's clock is known to have been corrected).
    pub fn clear(&mut self) {
        self.samples.clear();
        self.jumps.clear();
    }

    /// Takes `now` as the latest reading without looking for a discontinuity since the one
    /// before: for a host that vouches that the clocks ran continuously meanwhile (it checked
    /// every reading in between against its predecessor, as [`observe`](Self::observe) would
    /// have). Ignored when `now` is older (monotonic) than the latest reading.
    pub fn assume_continuous(&mut self, now: Reading) {
        if self.last.is_none_or(|l| now.mono >= l.mono) {
            self.last = Some(now);
        }
    }

    /// Notes a reading of the local clocks. When wall and monotonic time disagree since the
    /// latest reading seen, the discontinuity is recorded (samples taken before it then cover
    /// both explanations) and returned. Readings older (on the monotonic clock) than the
    /// latest are ignored.
    pub fn observe(&mut self, now: Reading) -> Option<Discontinuity> {
        let Some(last) = self.last else {
            self.last = Some(now);
            return None;
        };
        if now.mono < last.mono {
            return None;
        }
        self.last = Some(now);
        let d = now.discontinuity_since(&last)?;
        self.discontinuities = self.discontinuities.saturating_add(1);
        // Recorded even with no samples held: a sample taken before the jump may still be
        // added after it (hosts report responses late).
        if self.jumps.len() >= MAX_JUMPS {
            // Forget the oldest jump, baking its effect into the samples taken before it.
            let oldest = self.jumps.remove(0);
            let drift = self.config.drift_ppm;
            for s in self.samples.iter_mut().filter(|s| !oldest.precedes(s)) {
                (s.low, s.high) = oldest.carry((s.low, s.high), oldest.resolved, drift);
            }
        }
        self.jumps.push(Jump {
            seq: self.next_seq,
            from: last,
            to: now,
            d,
            resolved: None,
        });
        self.next_seq += 1;
        Some(d)
    }

    /// Adds a sample, then tries to resolve the latest unresolved discontinuity with it.
    pub fn add(&mut self, sample: Sample) {
        let late = self.last.is_some_and(|l| sample.at.mono < l.mono);
        self.observe(sample.at);
        // In order, a sample comes after every jump noticed so far (including one its own
        // reading just revealed). A late one is placed among the recorded jumps by its clocks.
        let epoch = if late {
            self.jumps
                .iter()
                .filter(|j| j.is_after(sample.at))
                .map(|j| j.seq + 1)
                .max()
                .unwrap_or_else(|| self.jumps.first().map_or(self.next_seq, |j| j.seq))
        } else {
            self.next_seq
        };
        if self.samples.len() >= self.config.max_samples {
            // Drop the oldest by monotonic time.
            if let Some(i) = (0..self.samples.len()).min_by_key(|&i| self.samples[i].at.mono) {
                self.samples.remove(i);
            }
        }
        self.samples.push(Stored {
            low: sample.low_ms,
            high: sample.high_ms,
            at: sample.at,
            rtt: sample.rtt_ms,
            source: sample.source,
            epoch,
        });
        self.try_resolve();
    }

    /// Discontinuities this estimator resolved since the last call.
    pub fn take_resolutions(&mut self) -> Vec<Resolution> {
        core::mem::take(&mut self.resolutions)
    }

    /// Applies a resolution learnt by another estimator of the same host (the discontinuity
    /// noticed at reading `to`).
    pub fn apply_resolution(&mut self, to: Reading, explanation: Explanation) {
        for j in self
            .jumps
            .iter_mut()
            .filter(|j| j.to.mono == to.mono && j.resolved.is_none())
        {
            j.resolved = Some(explanation);
        }
    }

    /// Bounds of sample `s` carried across every jump after it (with `pending`, a jump not yet
    /// recorded, applied last), with jump `k` under `hypothesis` instead of its own status.
    fn carried(
        &self,
        s: &Stored,
        pending: Option<&Jump>,
        k: Option<(usize, Explanation)>,
    ) -> (i64, Option<i64>) {
        let mut b = (s.low, s.high);
        for (i, j) in self.jumps.iter().enumerate() {
            if !j.precedes(s) {
                let how = match k {
                    Some((ki, e)) if ki == i => Some(e),
                    _ => j.resolved,
                };
                b = j.carry(b, how, self.config.drift_ppm);
            }
        }
        // A jump not yet recorded comes after every sample held.
        if let Some(j) = pending {
            b = j.carry(b, None, self.config.drift_ppm);
        }
        b
    }

    /// With a sample after the latest unresolved jump: if the samples before it agree with
    /// the samples after it under exactly one explanation, that explanation holds.
    fn try_resolve(&mut self) {
        let Some(k) = self.jumps.iter().rposition(|j| j.resolved.is_none()) else {
            return;
        };
        let jump = self.jumps[k];
        let (after, before): (Vec<&Stored>, Vec<&Stored>) =
            self.samples.iter().partition(|s| jump.precedes(s));
        // One sample could be false: it takes two agreeing ones to explain a jump.
        if after.len() < 2 || before.is_empty() {
            return;
        }
        let now = self.last.unwrap_or(jump.to);
        let drift = self.config.drift_ppm;
        let after_iv: Vec<_> = after
            .iter()
            .map(|s| drifted(self.carried(s, None, None), s.at, s.rtt, now, drift))
            .collect();
        let a = intersect(&after_iv);
        if a.agreeing as usize != after.len() {
            return;
        }
        let fits = |e: Explanation| {
            let iv: Vec<_> = before
                .iter()
                .map(|s| drifted(self.carried(s, None, Some((k, e))), s.at, s.rtt, now, drift))
                .collect();
            overlaps(&a, &intersect(&iv))
        };
        let stepped = fits(Explanation::WallStepped);
        // A suspend only ever makes the wall clock gain on the monotonic one.
        let paused = jump.d.wall_excess_ms > 0 && fits(Explanation::MonotonicPaused);
        let verdict = match (stepped, paused) {
            (true, false) => Explanation::WallStepped,
            (false, true) => Explanation::MonotonicPaused,
            _ => return,
        };
        self.jumps[k].resolved = Some(verdict);
        self.resolutions.push(Resolution {
            at: jump.to,
            discontinuity: jump.d,
            explanation: verdict,
        });
    }

    /// The estimate at `now`: samples carried across discontinuities (one between the latest
    /// observed reading and `now` counts as unresolved, without being recorded), widened by
    /// drift for their age, intersected.
    pub fn estimate(&self, now: Reading) -> Estimate {
        let pending = self.last.filter(|l| now.mono >= l.mono).and_then(|l| {
            now.discontinuity_since(&l).map(|d| Jump {
                seq: u64::MAX,
                from: l,
                to: now,
                d,
                resolved: None,
            })
        });
        let widened = |s: &Stored| {
            drifted(
                self.carried(s, pending.as_ref(), None),
                s.at,
                s.rtt,
                now,
                self.config.drift_ppm,
            )
        };
        if self.samples.len() <= STACK_SAMPLES {
            let mut stack = [(0i64, None); STACK_SAMPLES];
            for (slot, s) in stack.iter_mut().zip(&self.samples) {
                *slot = widened(s);
            }
            intersect(&stack[..self.samples.len()])
        } else {
            intersect(&self.samples.iter().map(widened).collect::<Vec<_>>())
        }
    }

    /// The last round-trip time seen on a sample of the given source.
    pub fn last_rtt_ms(&self, source: SampleSource) -> Option<i64> {
        self.samples
            .iter()
            .filter(|s| s.source == source)
            .max_by_key(|s| s.at.mono)
            .and_then(|s| s.rtt)
    }

    /// When to send the next `Date`-header request so that the server's next second boundary
    /// is expected to fall in the middle of the current interval; each such sample then halves
    /// the interval (down to about one round trip). `None` when the interval is already at
    /// most `target_width_ms` wide.
    ///
    /// `rtt_ms` is the expected round trip (e.g. [`last_rtt_ms`](Self::last_rtt_ms)); the
    /// server is assumed to read its clock half-way through it.
    pub fn next_date_probe(
        &self,
        now: Reading,
        rtt_ms: i64,
        target_width_ms: i64,
    ) -> Option<Probe> {
        let est = self.estimate(now);
        if est.width_ms().is_some_and(|w| w <= target_width_ms) {
            return None;
        }
        let rtt = rtt_ms.clamp(0, 60_000);
        let mid = match (est.low_ms, est.high_ms) {
            (Some(l), Some(h)) => midpoint(l, h),
            _ => est.offset_ms,
        };
        // Want (send + rtt/2 + mid) ≡ 0 (mod 1000): the server reads its clock at a second
        // boundary exactly when the offset is `mid`.
        let phase = now
            .wall
            .0
            .saturating_add(rtt / 2)
            .saturating_add(mid)
            .rem_euclid(DATE_RESOLUTION_MS);
        let wait = (DATE_RESOLUTION_MS - phase) % DATE_RESOLUTION_MS;
        Some(Probe {
            wait_ms: wait,
            send_at: now.advanced(wait),
        })
    }
}

/// True when two estimates' intervals share a value.
fn overlaps(a: &Estimate, b: &Estimate) -> bool {
    let below = |l: Option<i64>, h: Option<i64>| matches!((l, h), (Some(l), Some(h)) if l > h);
    !below(a.low_ms, b.high_ms) && !below(b.low_ms, a.high_ms)
}

/// Marzullo's algorithm over closed intervals (`None` high = unbounded above).
///
/// Finds the offsets covered by the most intervals. With a strict majority agreeing, the
/// estimate is the hull of every region reaching that count (several disjoint regions can
/// tie only when one of them is explained by false samples, and the hull keeps the truth in).
/// Without a majority nothing can be trusted to exclude a value: the hull of all samples.
fn intersect(intervals: &[(i64, Option<i64>)]) -> Estimate {
    let n = intervals.len();
    if n == 0 {
        return Estimate::UNKNOWN;
    }
    // Events: (value, kind) with starts (kind 0) sorted before ends (kind 1) at equal values,
    // so touching closed intervals count as overlapping. A stack buffer serves the usual
    // handful of samples (this runs on every `authorize`).
    let mut stack = [(0i64, 0u8); 2 * STACK_SAMPLES];
    let mut heap = Vec::new();
    let buf: &mut [(i64, u8)] = if n <= STACK_SAMPLES {
        &mut stack[..]
    } else {
        heap.resize(2 * n, (0, 0));
        &mut heap[..]
    };
    let mut len = 0;
    for &(l, h) in intervals {
        buf[len] = (l, 0);
        len += 1;
        if let Some(h) = h {
            buf[len] = (h, 1);
            len += 1;
        }
    }
    let events = &mut buf[..len];
    events.sort_unstable();
    let mut count = 0usize;
    let mut best = 0usize;
    // The hull of every region reaching the best count: lowest start, highest end (`None`:
    // some region is unbounded above).
    let mut hull: (i64, Option<i64>) = (0, None);
    for (i, &(v, kind)) in events.iter().enumerate() {
        if kind == 0 {
            count += 1;
            if count >= best {
                // The region runs to the next event that ends an interval.
                let end = events[i + 1..].iter().find(|e| e.1 == 1).map(|e| e.0);
                if count > best {
                    best = count;
                    hull = (v, end);
                } else {
                    hull = (hull.0.min(v), hull.1.zip(end).map(|(a, b)| a.max(b)));
                }
            }
        } else {
            count = count.saturating_sub(1);
        }
    }
    let (low, high) = if best * 2 > n {
        (Some(hull.0), hull.1)
    } else {
        let low = intervals.iter().map(|r| r.0).min();
        let high = intervals
            .iter()
            .map(|r| r.1)
            .try_fold(i64::MIN, |acc, h| h.map(|h| acc.max(h)));
        (low, high)
    };
    let offset = match (low, high) {
        (Some(l), Some(h)) => midpoint(l, h),
        (Some(l), None) => l.max(0),
        (None, Some(h)) => h.min(0),
        (None, None) => 0,
    };
    Estimate {
        offset_ms: offset,
        low_ms: low,
        high_ms: high,
        agreeing: best as u32,
        samples: n as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MonoMillis;

    fn r(wall: i64, mono: i64) -> Reading {
        Reading {
            wall: UnixMillis(wall),
            mono: MonoMillis(mono),
        }
    }

    #[test]
    fn date_sample_bounds() {
        let s = Sample::from_date_header(UnixMillis(1_000_000), r(999_000, 0), r(999_100, 100))
            .unwrap();
        assert_eq!((s.low_ms, s.high_ms), (900, Some(2_000)));
    }

    #[test]
    fn iat_is_a_lower_bound_only() {
        let mut e = SkewEstimator::new();
        // A cached token minted an hour ago: its iat must not make us think the issuer is behind.
        const T: i64 = 1_700_000_000_000;
        e.add(Sample::from_iat(T - 3_600_000, r(T, 0)).unwrap());
        let est = e.estimate(r(T, 0));
        assert_eq!(est.low_ms, Some(-3_600_000));
        assert_eq!(est.high_ms, None);
        assert_eq!(est.offset_ms, 0);
    }

    #[test]
    fn false_minority_is_outvoted() {
        let mut e = SkewEstimator::with_config(SkewConfig {
            drift_ppm: 0,
            max_samples: 16,
        });
        for (l, h) in [(100, 900), (200, 1000), (150, 950), (50_000, 51_000)] {
            e.add(Sample::manual(l, Some(h), r(0, 0)).unwrap());
        }
        let est = e.estimate(r(0, 0));
        assert_eq!(
            (est.low_ms, est.high_ms, est.agreeing),
            (Some(200), Some(900), 3)
        );
    }

    #[test]
    fn no_majority_gives_the_hull() {
        let mut e = SkewEstimator::with_config(SkewConfig {
            drift_ppm: 0,
            max_samples: 16,
        });
        e.add(Sample::manual(0, Some(10), r(0, 0)).unwrap());
        e.add(Sample::manual(100, Some(110), r(0, 0)).unwrap());
        let est = e.estimate(r(0, 0));
        assert_eq!(
            (est.low_ms, est.high_ms, est.agreeing),
            (Some(0), Some(110), 1)
        );
    }

    #[test]
    fn drift_widens_with_age() {
        let mut e = SkewEstimator::new();
        e.add(Sample::manual(0, Some(0), r(0, 0)).unwrap());
        let est = e.estimate(r(3_600_000, 3_600_000));
        assert_eq!((est.low_ms, est.high_ms), (Some(-720), Some(720)));
    }

    #[test]
    fn wall_step_covers_both_explanations() {
        let mut e = SkewEstimator::with_config(SkewConfig {
            drift_ppm: 0,
            max_samples: 16,
        });
        e.add(Sample::manual(-10, Some(10), r(1_000_000, 0)).unwrap());
        // Wall jumps 120 s forward while 1 s passes on the monotonic clock.
        let d = e.observe(r(1_121_000, 1_000)).unwrap();
        assert_eq!(d.wall_excess_ms, 120_000);
        let est = e.estimate(r(1_121_000, 1_000));
        assert_eq!((est.low_ms, est.high_ms), (Some(-120_010), Some(10)));
        // One fresh sample could be false: not enough.
        e.add(Sample::manual(-120_005, Some(-119_995), r(1_122_000, 2_000)).unwrap());
        assert!(e.take_resolutions().is_empty());
        // A second agreeing one: only "the wall clock stepped" fits. Resolved, and narrowed.
        e.add(Sample::manual(-120_004, Some(-119_990), r(1_122_500, 2_500)).unwrap());
        let res = e.take_resolutions();
        assert_eq!(
            (res.len(), res[0].at, res[0].explanation),
            (1, r(1_121_000, 1_000), Explanation::WallStepped)
        );
        let est = e.estimate(r(1_122_000, 2_000));
        assert_eq!((est.low_ms, est.high_ms), (Some(-120_004), Some(-119_995)));
    }

    #[test]
    fn a_backward_step_is_never_explained_as_a_pause() {
        let mut e = SkewEstimator::with_config(SkewConfig {
            drift_ppm: 0,
            max_samples: 16,
        });
        e.add(Sample::manual(-10, Some(10), r(1_000_000, 0)).unwrap());
        // The wall clock went back 61 s against the monotonic one (excess −61 s). Offsets
        // measured after it agree with the old ones, as a pause would have them — but a pause
        // only ever makes the wall clock gain.
        e.observe(r(940_000, 1_000));
        e.add(Sample::manual(-5, Some(5), r(941_000, 2_000)).unwrap());
        e.add(Sample::manual(-8, Some(8), r(941_100, 2_100)).unwrap());
        assert!(e.take_resolutions().is_empty());
        // The later samples, two against one, decide the estimate.
        let est = e.estimate(r(941_100, 2_100));
        assert_eq!((est.low_ms, est.high_ms), (Some(-5), Some(5)));
    }

    #[test]
    fn suspend_resolves_as_paused() {
        let mut e = SkewEstimator::with_config(SkewConfig {
            drift_ppm: 0,
            max_samples: 16,
        });
        e.add(Sample::manual(-10, Some(10), r(1_000_000, 0)).unwrap());
        // An hour asleep: the wall clock moved, the monotonic one did not.
        e.observe(r(4_600_000, 1_000));
        let mut other = SkewEstimator::with_config(SkewConfig {
            drift_ppm: 0,
            max_samples: 16,
        });
        other.add(Sample::manual(500, Some(600), r(1_000_000, 0)).unwrap());
        other.observe(r(4_600_000, 1_000));
        e.add(Sample::manual(-5, Some(5), r(4_601_000, 2_000)).unwrap());
        e.add(Sample::manual(-8, Some(8), r(4_601_100, 2_100)).unwrap());
        let res = e.take_resolutions();
        assert_eq!(
            (res.len(), res[0].at, res[0].explanation),
            (1, r(4_600_000, 1_000), Explanation::MonotonicPaused)
        );
        // An hour of pause also drifts: 200 ppm of 3 599 s is 720 ms.
        assert_eq!(e.estimate(r(4_601_100, 2_100)).low_ms, Some(-5));
        // Another origin's estimator learns it too.
        assert_eq!(
            other.estimate(r(4_601_000, 2_000)).low_ms,
            Some(500 - 3_599_000)
        );
        other.apply_resolution(res[0].at, res[0].explanation);
        assert_eq!(other.estimate(r(4_601_000, 2_000)).low_ms, Some(500));
    }
}

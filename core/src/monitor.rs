//! `SkewMonitor`: what a resource server can learn about the issuer's clock from the tokens it
//! accepts.
//!
//! For every verified token the verifier records its *age* `now − iat` (milliseconds, the
//! verifier's clock minus the issuer's stamp). Fresh tokens have a small positive age; a token
//! that arrives with a negative age was stamped in what is still the verifier's future, so the
//! verifier's clock is behind the issuer's. The monitor keeps these ages in a histogram with
//! **fixed** bucket edges, so histograms from many processes can be merged by adding counts,
//! answers quantile queries, renders Prometheus text exposition, and gives a verdict
//! ([`SkewMonitor::assessment`]).
//!
//! # Buckets
//!
//! Edge magnitudes are `(4 + j) · 2^(n+1)` ms for `n = 0, 1, …` and `j = 0..4` — four buckets per
//! factor of two (8, 10, 12, 14, 16, 20, 24, 28, 32, …), from 8 ms up to 671 088 640 ms
//! (≈ 7.8 days, the first edge past one week). The same magnitudes are mirrored for negative
//! ages, giving [`EDGE_COUNT`] edges `E_0 < … < E_211` and [`BUCKET_COUNT`] buckets: an
//! underflow bucket `(−∞, E_0]`, the buckets `(E_i, E_{i+1}]` (the centre one is `(−8, 8]`), and
//! an overflow bucket `(E_211, +∞)`. Buckets are closed on the right, like Prometheus' `le`.
//! The edges are integers computed by a `const fn`, so every platform has exactly the same ones.
//!
//! # Quantile error bound
//!
//! [`SkewMonitor::quantile`] estimates the nearest-rank quantile: with `N` recorded ages and
//! `k = max(1, ⌈q·N⌉)`, the true value is the `k`-th smallest age `v`. The estimate `v̂` is
//! interpolated linearly inside the bucket that holds `v`, so both lie in the same bucket and
//! `|v̂ − v|` is at most that bucket's width: **at most 16 ms for |v| ≤ 8 ms and at most |v|/4
//! otherwise** (a bucket's width is at most a quarter of its smaller edge magnitude), as long
//! as `v` is within ±671 088 640 ms. Beyond that the estimate is clamped to the outermost edge
//! (`±671 088 640`), i.e. read it as "at least that far".

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::time::UnixMillis;
use crate::ErrorCode;

/// Number of positive edge magnitudes (and, mirrored, of negative edges).
const MAGNITUDES: usize = 106;

/// Number of bucket edges (negative and positive).
pub const EDGE_COUNT: usize = 2 * MAGNITUDES;

/// Number of buckets: one more than the number of edges (underflow and overflow included).
pub const BUCKET_COUNT: usize = EDGE_COUNT + 1;

/// Version of the JSON form written by [`SkewMonitor::to_json`].
pub const JSON_VERSION: u32 = 1;

const fn magnitude(i: usize) -> i64 {
    let n = i / 4;
    let j = (i % 4) as i64;
    (4 + j) << (n + 1)
}

const fn make_edges() -> [i64; EDGE_COUNT] {
    let mut edges = [0i64; EDGE_COUNT];
    let mut k = 0;
    while k < MAGNITUDES {
        edges[MAGNITUDES - 1 - k] = -magnitude(k);
        edges[MAGNITUDES + k] = magnitude(k);
        k += 1;
    }
    edges
}

/// The bucket edges in milliseconds, ascending: `−671 088 640, …, −10, −8, 8, 10, …, 671 088 640`.
/// Bucket `i` holds ages in `(EDGES[i−1], EDGES[i]]`; bucket 0 is `(−∞, EDGES[0]]` and the
/// last bucket is `(EDGES[EDGE_COUNT−1], +∞)`.
pub const EDGES: [i64; EDGE_COUNT] = make_edges();

/// Index of the bucket holding `age_ms`: the number of edges strictly below it.
fn bucket_of(age_ms: i64) -> usize {
    EDGES.partition_point(|&e| e < age_ms)
}

/// Lower and upper edge of bucket `i`; `None` stands for −∞ / +∞.
fn bucket_bounds(i: usize) -> (Option<i64>, Option<i64>) {
    let lo = i.checked_sub(1).and_then(|j| EDGES.get(j).copied());
    let hi = EDGES.get(i).copied();
    (lo, hi)
}

/// A serialised monitor or a metric name was not acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorError {
    /// The JSON was not a valid monitor document (bad JSON, missing or extra fields, wrong
    /// number of buckets, negative or non-integer counts). Code `invalid_monitor_json`.
    InvalidJson {
        /// What was wrong, in words that never quote the input.
        reason: &'static str,
    },
    /// The document's `version` is not one this build reads. Code `unsupported_monitor_version`.
    UnsupportedVersion,
    /// A Prometheus metric name must match `[a-zA-Z_:][a-zA-Z0-9_:]*`. Code
    /// `invalid_metric_name`.
    InvalidMetricName,
    /// A quantile must be a number in `[0, 1]`. Code `invalid_quantile`.
    InvalidQuantile,
}

impl ErrorCode for MonitorError {
    fn code(&self) -> &'static str {
        match self {
            MonitorError::InvalidJson { .. } => "invalid_monitor_json",
            MonitorError::UnsupportedVersion => "unsupported_monitor_version",
            MonitorError::InvalidMetricName => "invalid_metric_name",
            MonitorError::InvalidQuantile => "invalid_quantile",
        }
    }
}

impl fmt::Display for MonitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorError::InvalidJson { reason } => {
                write!(f, "invalid skew monitor JSON: {reason}")
            }
            MonitorError::UnsupportedVersion => {
                write!(f, "unsupported skew monitor JSON version (this build reads version {JSON_VERSION})")
            }
            MonitorError::InvalidMetricName => {
                write!(
                    f,
                    "invalid Prometheus metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)"
                )
            }
            MonitorError::InvalidQuantile => write!(f, "quantile must be a number in [0, 1]"),
        }
    }
}

impl std::error::Error for MonitorError {}

/// A mergeable histogram of token ages `now − iat` (milliseconds) seen by a verifier.
///
/// Methods: inputs [`record`](Self::record) / [`record_token`](Self::record_token) /
/// [`merge`](Self::merge); getters [`count`](Self::count), [`sum_ms`](Self::sum_ms),
/// [`bucket_counts`](Self::bucket_counts), [`quantile`](Self::quantile),
/// [`assessment`](Self::assessment); outputs [`to_json`](Self::to_json) /
/// [`from_json`](Self::from_json) and [`prometheus`](Self::prometheus).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Wire", into = "Wire")]
pub struct SkewMonitor {
    counts: [u64; BUCKET_COUNT],
    count: u64,
    sum_ms: i128,
}

/// The JSON shape: `{"version": 1, "buckets": [BUCKET_COUNT counts], "sum_ms": n}`. `sum_ms` is
/// an `i128` so that sums stay exact (and merging associative) for any realistic input.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    version: u32,
    buckets: Vec<u64>,
    sum_ms: i128,
}

impl From<SkewMonitor> for Wire {
    fn from(m: SkewMonitor) -> Wire {
        Wire {
            version: JSON_VERSION,
            buckets: m.counts.to_vec(),
            sum_ms: m.sum_ms,
        }
    }
}

impl TryFrom<Wire> for SkewMonitor {
    type Error = MonitorError;

    fn try_from(w: Wire) -> Result<Self, MonitorError> {
        if w.version != JSON_VERSION {
            return Err(MonitorError::UnsupportedVersion);
        }
        let counts: [u64; BUCKET_COUNT] =
            w.buckets
                .try_into()
                .map_err(|_| MonitorError::InvalidJson {
                    reason: "wrong number of buckets",
                })?;
        let mut count: u64 = 0;
        for c in counts {
            count = count.checked_add(c).ok_or(MonitorError::InvalidJson {
                reason: "bucket counts overflow",
            })?;
        }
        Ok(SkewMonitor {
            counts,
            count,
            sum_ms: w.sum_ms,
        })
    }
}

impl Default for SkewMonitor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SkewMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkewMonitor")
            .field("count", &self.count)
            .field("sum_ms", &self.sum_ms)
            .field("p05", &self.quantile(0.05))
            .field("p50", &self.quantile(0.5))
            .field("p95", &self.quantile(0.95))
            .finish()
    }
}

/// What the recorded ages say about the verifier's clock relative to the issuer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// Fewer than [`AssessmentRules::min_samples`] ages recorded: no conclusion.
    Insufficient,
    /// The verifier's clock looks **behind** the issuer's: `p05` of ages is below
    /// `−behind_threshold_ms`, i.e. at least one token in twenty arrived stamped more than that
    /// far in the verifier's future. Tokens cannot be issued in the future, so this is clock
    /// evidence; with zero leeway such tokens are rejected as issued in the future / not yet
    /// valid.
    Behind,
    /// The verifier's clock looks **ahead** of the issuer's: `p05` of ages is above
    /// `expected_max_age_ms`, i.e. even the freshest tokens look older than the freshest ones
    /// should be; tokens will be rejected as expired before their real end.
    Ahead,
    /// Neither rule fired.
    Consistent,
}

impl Verdict {
    /// Stable `snake_case` name: `insufficient`, `behind`, `ahead`, `consistent`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Insufficient => "insufficient",
            Verdict::Behind => "behind",
            Verdict::Ahead => "ahead",
            Verdict::Consistent => "consistent",
        }
    }
}

/// Thresholds for [`SkewMonitor::assessment_with`]. The defaults are what
/// [`SkewMonitor::assessment`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssessmentRules {
    /// Fewer recorded ages than this gives [`Verdict::Insufficient`]. Default 50 (so `p05` is
    /// backed by at least three tokens).
    pub min_samples: u64,
    /// [`Verdict::Behind`] when `p05 < −behind_threshold_ms`. Default 2 000 ms.
    pub behind_threshold_ms: i64,
    /// [`Verdict::Ahead`] when `p05 > expected_max_age_ms`. Default 60 000 ms. Clients reuse
    /// tokens until they are nearly expired, so the right value depends on the issuer's token
    /// lifetime and how many clients cache: set it to the age you expect the freshest 5 % of
    /// tokens to stay under.
    pub expected_max_age_ms: i64,
}

impl Default for AssessmentRules {
    fn default() -> Self {
        AssessmentRules {
            min_samples: 50,
            behind_threshold_ms: 2_000,
            expected_max_age_ms: 60_000,
        }
    }
}

/// A summary of the recorded ages and a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Assessment {
    /// The verdict (see [`Verdict`] for the rules).
    pub verdict: Verdict,
    /// Number of ages recorded.
    pub count: u64,
    /// Estimated 1st percentile of ages (ms); `None` when empty.
    pub p01_ms: Option<i64>,
    /// Estimated 5th percentile (ms): the quantile the verdict is based on.
    pub p05_ms: Option<i64>,
    /// Estimated median (ms).
    pub p50_ms: Option<i64>,
    /// Estimated 95th percentile (ms).
    pub p95_ms: Option<i64>,
    /// Estimated 99th percentile (ms).
    pub p99_ms: Option<i64>,
}

impl SkewMonitor {
    /// An empty monitor.
    pub const fn new() -> Self {
        SkewMonitor {
            counts: [0; BUCKET_COUNT],
            count: 0,
            sum_ms: 0,
        }
    }

    /// Records one token age `now − iat` in milliseconds (negative: stamped in our future).
    pub fn record(&mut self, age_ms: i64) {
        if let Some(c) = self.counts.get_mut(bucket_of(age_ms)) {
            *c = c.saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum_ms = self.sum_ms.saturating_add(i128::from(age_ms));
    }

    /// Records the age of a token with `iat` (milliseconds) verified at `now`.
    pub fn record_token(&mut self, now: UnixMillis, iat_ms: i64) {
        self.record(now.as_millis().saturating_sub(iat_ms));
    }

    /// Adds `other`'s counts to this monitor. Merging is commutative and associative because
    /// all monitors share the same bucket edges.
    pub fn merge(&mut self, other: &SkewMonitor) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }

    /// Number of ages recorded.
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// Sum of all recorded ages in milliseconds. Exact: an `i128` cannot overflow before
    /// 2^64 ages of any `i64` value have been recorded (it would saturate).
    pub const fn sum_ms(&self) -> i128 {
        self.sum_ms
    }

    /// The count in each bucket (see [`EDGES`] for the bucket bounds).
    pub const fn bucket_counts(&self) -> &[u64; BUCKET_COUNT] {
        &self.counts
    }

    /// Estimated nearest-rank quantile `q` of the ages, in milliseconds; `None` when no age is
    /// recorded or `q` is not in `[0, 1]` (NaN included). See the module docs for the error
    /// bound.
    pub fn quantile(&self, q: f64) -> Option<i64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // k = max(1, ceil(q·N)), computed in f64 then clamped to [1, N]: for N < 2^53 this is
        // exact up to the rounding of q·N itself.
        let n = self.count;
        let raw = (q * n as f64).ceil();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = if raw.is_finite() && raw >= 1.0 {
            (raw as u64).min(n)
        } else {
            1
        };
        let mut before: u64 = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let through = before.saturating_add(c);
            if k <= through {
                return Some(interpolate(i, k - before, c));
            }
            before = through;
        }
        // Only reachable if counts and count disagree (saturation): report the top bucket.
        let last = self.counts.iter().rposition(|&c| c > 0)?;
        Some(interpolate(last, self.counts[last], self.counts[last]))
    }

    /// The verdict under the default [`AssessmentRules`].
    pub fn assessment(&self) -> Assessment {
        self.assessment_with(&AssessmentRules::default())
    }

    /// The verdict under the given rules. Insufficient when `count < min_samples`; else
    /// behind when `p05 < −behind_threshold_ms`; else ahead when `p05 > expected_max_age_ms`;
    /// else consistent. The thresholds are compared with the *estimated* `p05` (module docs:
    /// within a quarter of its value).
    pub fn assessment_with(&self, rules: &AssessmentRules) -> Assessment {
        let p05 = self.quantile(0.05);
        let verdict = match p05 {
            _ if self.count < rules.min_samples.max(1) => Verdict::Insufficient,
            None => Verdict::Insufficient,
            Some(p) if p < rules.behind_threshold_ms.saturating_neg() => Verdict::Behind,
            Some(p) if p > rules.expected_max_age_ms => Verdict::Ahead,
            Some(_) => Verdict::Consistent,
        };
        Assessment {
            verdict,
            count: self.count,
            p01_ms: self.quantile(0.01),
            p05_ms: p05,
            p50_ms: self.quantile(0.5),
            p95_ms: self.quantile(0.95),
            p99_ms: self.quantile(0.99),
        }
    }

    /// The versioned JSON form `{"version":1,"buckets":[…],"sum_ms":…}` with
    /// [`BUCKET_COUNT`] bucket counts.
    pub fn to_json(&self) -> String {
        // Serialising plain integers into a String cannot fail; fall back to an empty document
        // rather than panic.
        serde_json::to_string(&Wire::from(self.clone())).unwrap_or_default()
    }

    /// Reads the JSON form written by [`to_json`](Self::to_json). Rejects another `version`
    /// with [`MonitorError::UnsupportedVersion`] and anything malformed with
    /// [`MonitorError::InvalidJson`].
    pub fn from_json(text: &str) -> Result<Self, MonitorError> {
        /// First pass: only the version, so a foreign version is reported as such even when
        /// the rest of its shape differs.
        #[derive(Deserialize)]
        struct Probe {
            version: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_str(text).map_err(|_| MonitorError::InvalidJson {
            reason: "not a JSON object",
        })?;
        match probe.version {
            None => {
                return Err(MonitorError::InvalidJson {
                    reason: "missing version",
                })
            }
            Some(v) if v.as_u64() == Some(u64::from(JSON_VERSION)) => {}
            Some(v) if v.is_number() => return Err(MonitorError::UnsupportedVersion),
            Some(_) => {
                return Err(MonitorError::InvalidJson {
                    reason: "version must be an integer",
                })
            }
        }
        let wire: Wire = serde_json::from_str(text).map_err(|_| MonitorError::InvalidJson {
            reason: "expected fields version, buckets (non-negative integers) and sum_ms (integer)",
        })?;
        SkewMonitor::try_from(wire)
    }

    /// Prometheus text exposition (format 0.0.4) of the histogram in **seconds**: `# HELP`,
    /// `# TYPE name histogram`, cumulative `name_bucket{le="…"}` lines for every edge and
    /// `+Inf`, then `name_sum` and `name_count`. The name must match
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub fn prometheus(&self, name: &str) -> Result<String, MonitorError> {
        if !valid_metric_name(name) {
            return Err(MonitorError::InvalidMetricName);
        }
        let mut out = String::with_capacity(64 * BUCKET_COUNT);
        out.push_str("# HELP ");
        out.push_str(name);
        out.push_str(" Age of verified tokens (verifier clock minus iat), in seconds.\n");
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push_str(" histogram\n");
        let mut cumulative: u64 = 0;
        for (i, &edge) in EDGES.iter().enumerate() {
            cumulative = cumulative.saturating_add(self.counts.get(i).copied().unwrap_or(0));
            out.push_str(name);
            out.push_str("_bucket{le=\"");
            out.push_str(&ms_as_seconds(edge));
            out.push_str("\"} ");
            out.push_str(&cumulative.to_string());
            out.push('\n');
        }
        out.push_str(name);
        out.push_str("_bucket{le=\"+Inf\"} ");
        out.push_str(&self.count.to_string());
        out.push('\n');
        out.push_str(name);
        out.push_str("_sum ");
        out.push_str(&ms_as_seconds(self.sum_ms));
        out.push('\n');
        out.push_str(name);
        out.push_str("_count ");
        out.push_str(&self.count.to_string());
        out.push('\n');
        Ok(out)
    }
}

/// Linear interpolation inside bucket `i` for the `r`-th (1-based) of its `c` observations.
/// Unbounded buckets report their finite edge.
fn interpolate(i: usize, r: u64, c: u64) -> i64 {
    match bucket_bounds(i) {
        (Some(lo), Some(hi)) => {
            let width = i128::from(hi) - i128::from(lo);
            let off = width * i128::from(r) / i128::from(c.max(1));
            i64::try_from(i128::from(lo) + off).unwrap_or(hi)
        }
        (None, Some(hi)) => hi,
        (Some(lo), None) => lo,
        (None, None) => 0,
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Milliseconds as an exact decimal number of seconds: `-1500` → `"-1.5"`, `8` → `"0.008"`.
fn ms_as_seconds(ms: impl Into<i128>) -> String {
    let ms: i128 = ms.into();
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let whole = abs / 1000;
    let frac = abs % 1000;
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{frac:03}");
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_the_documented_table() {
        assert_eq!(
            &EDGES[MAGNITUDES..MAGNITUDES + 9],
            &[8, 10, 12, 14, 16, 20, 24, 28, 32]
        );
        assert_eq!(EDGES[EDGE_COUNT - 1], 671_088_640);
        assert_eq!(EDGES[EDGE_COUNT - 2], 536_870_912);
        assert_eq!(EDGES[0], -671_088_640);
        assert_eq!(EDGES[MAGNITUDES - 1], -8);
        assert!(EDGES.windows(2).all(|w| w[0] < w[1]));
        // Every bucket is at most a quarter of its smaller edge magnitude wide.
        for w in EDGES.windows(2) {
            if w[0] > 0 {
                assert!((w[1] - w[0]) * 4 <= w[0], "{w:?}");
            } else if w[1] < 0 {
                assert!((w[1] - w[0]) * 4 <= -w[1], "{w:?}");
            }
        }
        // One week is covered.
        assert!(EDGES[EDGE_COUNT - 2] < 604_800_000 && EDGES[EDGE_COUNT - 1] >= 604_800_000);
    }

    #[test]
    fn buckets_are_closed_on_the_right() {
        assert_eq!(bucket_of(i64::MIN), 0);
        assert_eq!(bucket_of(-671_088_640), 0);
        assert_eq!(bucket_of(-671_088_639), 1);
        assert_eq!(bucket_of(-8), MAGNITUDES - 1);
        assert_eq!(bucket_of(-7), MAGNITUDES);
        assert_eq!(bucket_of(8), MAGNITUDES);
        assert_eq!(bucket_of(9), MAGNITUDES + 1);
        assert_eq!(bucket_of(671_088_640), EDGE_COUNT - 1);
        assert_eq!(bucket_of(671_088_641), BUCKET_COUNT - 1);
        assert_eq!(bucket_of(i64::MAX), BUCKET_COUNT - 1);
        assert_eq!(bucket_bounds(MAGNITUDES), (Some(-8), Some(8)));
        assert_eq!(bucket_bounds(0), (None, Some(-671_088_640)));
        assert_eq!(bucket_bounds(BUCKET_COUNT - 1), (Some(671_088_640), None));
    }

    #[test]
    fn seconds_formatting_is_exact() {
        assert_eq!(ms_as_seconds(0), "0");
        assert_eq!(ms_as_seconds(8), "0.008");
        assert_eq!(ms_as_seconds(-1500), "-1.5");
        assert_eq!(ms_as_seconds(671_088_640), "671088.64");
        assert_eq!(ms_as_seconds(i64::MIN), "-9223372036854775.808");
        assert_eq!(
            ms_as_seconds(i128::MIN),
            "-170141183460469231731687303715884105.728"
        );
    }

    #[test]
    fn metric_names() {
        assert!(valid_metric_name("tokenclock_token_age_seconds"));
        assert!(valid_metric_name(":a_1"));
        assert!(!valid_metric_name(""));
        assert!(!valid_metric_name("1abc"));
        assert!(!valid_metric_name("a-b"));
        assert!(!valid_metric_name("a b"));
        assert!(!valid_metric_name("é"));
    }
}

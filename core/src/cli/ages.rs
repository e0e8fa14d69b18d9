//! `tokenclock ages`: token ages found in logs ([`AgesCollector`]), their quantiles,
//! histogram and the monitor's verdict.

use super::*;
use core::fmt::Write as _;

/// Where `ages --time-field FIELD` finds a line's own timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeField {
    /// A 1-based whitespace-separated column (FIELD is all digits).
    Column(usize),
    /// A key: a dotted path into a JSON-object line, or a `key=value` (logfmt) field of any
    /// other line.
    Key(String),
}

impl TimeField {
    /// Parses `--time-field`: digits are a column (from 1), anything else a key (non-empty,
    /// no whitespace, at most 200 bytes).
    pub fn parse(spec: &str) -> Result<TimeField, ReportError> {
        if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
            return match spec.parse::<usize>() {
                Ok(n) if (1..=1_000).contains(&n) => Ok(TimeField::Column(n)),
                _ => Err(invalid("--time-field", "a column from 1 to 1000, or a key")),
            };
        }
        if spec.is_empty()
            || spec.len() > 200
            || spec.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "--time-field",
                "a column number or a key without spaces",
            ));
        }
        Ok(TimeField::Key(spec.to_owned()))
    }

    fn describe(&self) -> String {
        match self {
            TimeField::Column(n) => format!("column {n}"),
            TimeField::Key(k) => sanitize(k),
        }
    }

    /// The timestamp of `line` (milliseconds), if the field is there and parses.
    pub fn timestamp(&self, line: &str) -> Option<i64> {
        let trimmed = line.trim();
        match self {
            TimeField::Column(n) => {
                parse_timestamp(trimmed.split_whitespace().nth(n.saturating_sub(1))?)
            }
            TimeField::Key(key) => {
                if trimmed.starts_with('{') {
                    let value: Value = serde_json::from_str(trimmed).ok()?;
                    let mut cur = &value;
                    for part in key.split('.') {
                        cur = cur.as_object()?.get(part)?;
                    }
                    match cur {
                        Value::String(s) => parse_timestamp(s),
                        Value::Number(n) => parse_timestamp(&n.to_string()),
                        _ => None,
                    }
                } else {
                    let prefix = format!("{key}=");
                    let field = trimmed
                        .split_whitespace()
                        .find_map(|f| f.strip_prefix(prefix.as_str()))?;
                    parse_timestamp(field.trim_matches('"'))
                }
            }
        }
    }
}

/// What `ages` saw besides the recorded ages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgesStats {
    /// Lines read.
    pub lines: u64,
    /// JWT-shaped strings found.
    pub tokens: u64,
    /// Ages recorded into the monitor.
    pub recorded: u64,
    /// Tokens that did not parse ([`peek`] failed).
    pub unreadable: u64,
    /// Tokens without `iat`.
    pub no_iat: u64,
    /// Tokens on lines without a usable timestamp (with `--time-field`).
    pub no_timestamp: u64,
    /// `--time-field` as given (`None`: ages are `now − iat`).
    pub time_field: Option<String>,
}

impl AgesStats {
    /// Tokens found but not recorded.
    pub const fn skipped(&self) -> u64 {
        self.unreadable
            .saturating_add(self.no_iat)
            .saturating_add(self.no_timestamp)
    }
}

/// Longest line [`AgesCollector::feed_bytes`] buffers before processing it anyway.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads `ages` input: finds tokens in each line and records `now − iat` (or `line time −
/// iat` with `--time-field`) into a [`SkewMonitor`]. Feed it lines, or raw bytes (it splits
/// on `\n`, drops a `\r` before it, and decodes UTF-8 with U+FFFD replacement), then call
/// [`finish`](Self::finish) and [`render`](Self::render).
#[derive(Clone, Debug, Default)]
pub struct AgesCollector {
    monitor: SkewMonitor,
    stats: AgesStats,
    time_field: Option<TimeField>,
    pending: Vec<u8>,
}

impl AgesCollector {
    /// A collector; `time_field` is `--time-field` (see [`TimeField::parse`]).
    pub fn new(time_field: Option<&str>) -> Result<AgesCollector, ReportError> {
        let parsed = time_field.map(TimeField::parse).transpose()?;
        Ok(AgesCollector {
            monitor: SkewMonitor::new(),
            stats: AgesStats {
                time_field: time_field.map(str::to_owned),
                ..AgesStats::default()
            },
            time_field: parsed,
            pending: Vec::new(),
        })
    }

    /// One line (without its newline; a trailing `\r` is ignored), read at `now`.
    pub fn feed_line(&mut self, line: &str, now: UnixMillis) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        self.stats.lines = self.stats.lines.saturating_add(1);
        let tokens = find_tokens(line);
        if tokens.is_empty() {
            return;
        }
        let stamp = self.time_field.as_ref().map(|f| f.timestamp(line));
        for token in tokens {
            self.stats.tokens = self.stats.tokens.saturating_add(1);
            let iat = match peek(token) {
                Err(_) => {
                    self.stats.unreadable = self.stats.unreadable.saturating_add(1);
                    continue;
                }
                Ok(p) => p.times.iat_ms,
            };
            let Some(iat) = iat else {
                self.stats.no_iat = self.stats.no_iat.saturating_add(1);
                continue;
            };
            let at = match stamp {
                None => now.0,
                Some(Some(t)) => t,
                Some(None) => {
                    self.stats.no_timestamp = self.stats.no_timestamp.saturating_add(1);
                    continue;
                }
            };
            self.monitor.record(at.saturating_sub(iat));
            self.stats.recorded = self.stats.recorded.saturating_add(1);
        }
    }

    /// A chunk of raw input read at `now`; complete lines are processed, the rest is kept.
    pub fn feed_bytes(&mut self, chunk: &[u8], now: UnixMillis) {
        self.pending.extend_from_slice(chunk);
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            let text = String::from_utf8_lossy(line.get(..nl).unwrap_or_default()).into_owned();
            self.feed_line(&text, now);
        }
        if self.pending.len() > MAX_LINE_BYTES {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.feed_line(&text, now);
        }
    }

    /// End of input at `now`: processes a last line without a newline.
    pub fn finish(&mut self, now: UnixMillis) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.feed_line(&text, now);
        }
    }

    /// The ages recorded so far.
    pub fn monitor(&self) -> &SkewMonitor {
        &self.monitor
    }

    /// The counts so far.
    pub fn stats(&self) -> &AgesStats {
        &self.stats
    }

    /// The `ages` report ([`ages`]).
    pub fn render(&self, color: bool) -> Rendered {
        ages(&self.monitor, &self.stats, color)
    }

    /// The `ages --prometheus` output ([`ages_prometheus`]).
    pub fn render_prometheus(&self) -> Rendered {
        ages_prometheus(&self.monitor, &self.stats)
    }
}

/// Display edges of the `ages` histogram (ms). Every one is a [`SkewMonitor`] bucket edge,
/// so each monitor bucket falls in exactly one display bin.
pub const HISTOGRAM_EDGES_MS: [i64; 12] = [
    -65_536, -16_384, -4_096, -1_024, -8, 8, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576,
];

/// Counts per display bin: `(−∞, E0], (E0, E1], …, (E11, +∞)`.
pub(super) fn histogram_bins(monitor: &SkewMonitor) -> [u64; HISTOGRAM_EDGES_MS.len() + 1] {
    let mut bins = [0u64; HISTOGRAM_EDGES_MS.len() + 1];
    for (i, &count) in monitor.bucket_counts().iter().enumerate() {
        // Bucket i is (EDGES[i−1], EDGES[i]]; the last one is unbounded above.
        let bin = match EDGES.get(i) {
            Some(&hi) => HISTOGRAM_EDGES_MS.partition_point(|&d| d < hi),
            None => HISTOGRAM_EDGES_MS.len(),
        };
        if let Some(b) = bins.get_mut(bin) {
            *b = b.saturating_add(count);
        }
    }
    bins
}

pub(super) fn bin_bounds(i: usize) -> (Option<i64>, Option<i64>) {
    (
        i.checked_sub(1)
            .and_then(|j| HISTOGRAM_EDGES_MS.get(j).copied()),
        HISTOGRAM_EDGES_MS.get(i).copied(),
    )
}

pub(super) fn ages_parts(
    monitor: &SkewMonitor,
    stats: &AgesStats,
    color: bool,
) -> (String, Value, i32) {
    let p = Paint(color);
    let rules = AssessmentRules::default();
    let a = monitor.assessment_with(&rules);
    let mut findings: Vec<Note> = Vec::new();
    let verdict_text = match (a.verdict, a.p05_ms) {
        (Verdict::Behind, Some(p05)) => {
            let msg = format!(
                "this clock looks behind the issuer's: 5% of tokens were stamped more than {} in its future (p05 {})",
                human_duration(rules.behind_threshold_ms),
                human_signed(p05)
            );
            findings.push(Note {
                code: "clock_behind_issuer",
                message: msg.clone(),
            });
            format!("{}: {msg}", p.red("behind"))
        }
        (Verdict::Ahead, Some(p05)) => {
            let msg = format!(
                "this clock may be ahead of the issuer's: even the freshest 5% of tokens look older than {} (p05 {})",
                human_duration(rules.expected_max_age_ms),
                human_signed(p05)
            );
            findings.push(Note {
                code: "clock_ahead_of_issuer",
                message: msg.clone(),
            });
            format!("{}: {msg}", p.red("ahead"))
        }
        (Verdict::Consistent, Some(p05)) => format!(
            "{}: p05 {} is within -{} .. +{}",
            p.green("consistent"),
            human_signed(p05),
            human_duration(rules.behind_threshold_ms),
            human_duration(rules.expected_max_age_ms)
        ),
        _ => format!(
            "{}: {} age(s) recorded, {} needed for a verdict",
            p.yellow("insufficient"),
            a.count,
            rules.min_samples
        ),
    };
    let bins = histogram_bins(monitor);

    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}  {} found in {} line(s); {} recorded, {} skipped ({} unreadable, {} without iat, {} without a timestamp)",
        p.bold("tokens"),
        stats.tokens,
        stats.lines,
        stats.recorded,
        stats.skipped(),
        stats.unreadable,
        stats.no_iat,
        stats.no_timestamp
    );
    let basis = match &stats.time_field {
        Some(f) => format!(
            "age = line time − iat (--time-field {})",
            TimeField::parse(f).map_or_else(|_| sanitize(f), |tf| tf.describe())
        ),
        None => "age = now − iat (this clock)".to_owned(),
    };
    let _ = writeln!(t, "{}", p.bold(&basis));
    let quantiles = [
        ("p01", a.p01_ms),
        ("p05", a.p05_ms),
        ("p50", a.p50_ms),
        ("p95", a.p95_ms),
        ("p99", a.p99_ms),
    ];
    for (name, q) in quantiles {
        let _ = writeln!(
            t,
            "  {name}  {}",
            q.map_or_else(|| "-".to_owned(), human_signed)
        );
    }
    let _ = writeln!(t, "{}", p.bold("histogram"));
    let first = bins.iter().position(|&c| c > 0);
    let last = bins.iter().rposition(|&c| c > 0);
    match (first, last) {
        (Some(first), Some(last)) => {
            let labels: Vec<String> = (first..=last)
                .map(|i| match bin_bounds(i) {
                    (None, Some(hi)) => format!("(-inf, {}]", plain_seconds(hi)),
                    (Some(lo), Some(hi)) => {
                        format!("({}, {}]", plain_seconds(lo), plain_seconds(hi))
                    }
                    (Some(lo), None) => format!("({}, +inf)", plain_seconds(lo)),
                    (None, None) => String::new(),
                })
                .collect();
            let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            let max_count = bins.iter().copied().max().unwrap_or(1).max(1);
            let count_w = max_count.to_string().len();
            for (label, i) in labels.iter().zip(first..=last) {
                let c = bins.get(i).copied().unwrap_or(0);
                let bar = if c == 0 {
                    0
                } else {
                    (u128::from(c) * 40 / u128::from(max_count)).max(1) as usize
                };
                let line = format!(
                    "  {}  {c:>count_w$}  {}",
                    pad(label, label_w),
                    "#".repeat(bar)
                );
                let _ = writeln!(t, "{}", line.trim_end());
            }
        }
        _ => t.push_str("  (no ages recorded)\n"),
    }
    let _ = writeln!(t, "{}  {verdict_text}", p.bold("assessment"));
    t.push_str(&result_line(p, &findings));

    let exit_code = exit_for(&findings);
    let sum = i64::try_from(monitor.sum_ms()).unwrap_or(if monitor.sum_ms() < 0 {
        i64::MIN
    } else {
        i64::MAX
    });
    let json = json!({
        "command": "ages",
        "schema_version": SCHEMA_VERSION,
        "lines": stats.lines,
        "tokens": stats.tokens,
        "recorded": stats.recorded,
        "skipped": {
            "unreadable": stats.unreadable,
            "no_iat": stats.no_iat,
            "no_timestamp": stats.no_timestamp,
        },
        "age_basis": if stats.time_field.is_some() { "line_time" } else { "now" },
        "time_field": stats.time_field,
        "quantiles_ms": {
            "p01": a.p01_ms, "p05": a.p05_ms, "p50": a.p50_ms, "p95": a.p95_ms, "p99": a.p99_ms,
        },
        "histogram": (0..bins.len()).map(|i| {
            let (lo, hi) = bin_bounds(i);
            json!({"low_ms": lo, "high_ms": hi, "count": bins.get(i).copied().unwrap_or(0)})
        }).collect::<Vec<Value>>(),
        "assessment": {
            "verdict": a.verdict.as_str(),
            "count": a.count,
            "p05_ms": a.p05_ms,
            "min_samples": rules.min_samples,
            "behind_threshold_ms": rules.behind_threshold_ms,
            "expected_max_age_ms": rules.expected_max_age_ms,
        },
        "monitor": {
            "version": crate::monitor::JSON_VERSION,
            "buckets": monitor.bucket_counts().to_vec(),
            "sum_ms": sum,
        },
        "findings": notes_json(&findings),
        "exit_code": exit_code,
    });
    (t, json, exit_code)
}

/// `ages`: how many tokens were found and recorded, quantiles of their ages, a histogram and
/// the [`SkewMonitor`] assessment (default rules). Exit 1 when the verifier's clock looks
/// behind or ahead of the issuer's; else 0 (also when too few ages were recorded).
pub fn ages(monitor: &SkewMonitor, stats: &AgesStats, color: bool) -> Rendered {
    let (text, json, exit_code) = ages_parts(monitor, stats, color);
    Rendered {
        text,
        json,
        exit_code,
        stream: Stream::Stdout,
    }
}

/// `ages --prometheus`: the histogram as Prometheus text exposition (metric
/// [`AGES_METRIC_NAME`], seconds); the JSON and exit code are those of [`ages`].
pub fn ages_prometheus(monitor: &SkewMonitor, stats: &AgesStats) -> Rendered {
    let (_, json, exit_code) = ages_parts(monitor, stats, false);
    let text = monitor.prometheus(AGES_METRIC_NAME).unwrap_or_default();
    Rendered {
        text,
        json,
        exit_code,
        stream: Stream::Stdout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_edges_are_monitor_edges() {
        for e in HISTOGRAM_EDGES_MS {
            assert!(EDGES.contains(&e), "{e}");
        }
    }
}

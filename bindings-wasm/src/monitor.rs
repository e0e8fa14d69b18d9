//! What a resource server learns about the issuer's clock (core `monitor`, full build only):
//! `SkewMonitor`.

use std::cell::RefCell;

use tokenclock::monitor::{self, AssessmentRules, MonitorError};
use tokenclock::time::UnixMillis;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{core_error, range_error_with_code, type_error};

/// A mergeable histogram of token ages `now − iat` (core `monitor::SkewMonitor`).
#[wasm_bindgen]
pub struct SkewMonitor {
    inner: RefCell<monitor::SkewMonitor>,
}

impl SkewMonitor {
    fn with<T>(&self, f: impl FnOnce(&mut monitor::SkewMonitor) -> T) -> Result<T, JsValue> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("SkewMonitor is already in use (re-entrant call)"))?;
        Ok(f(&mut inner))
    }
}

fn count_js(v: u64) -> f64 {
    v as f64
}

#[wasm_bindgen]
impl SkewMonitor {
    /// An empty monitor.
    #[wasm_bindgen(constructor)]
    pub fn new() -> SkewMonitor {
        SkewMonitor {
            inner: RefCell::new(monitor::SkewMonitor::new()),
        }
    }

    /// Records one token age `now − iat` in ms (negative: stamped in our future).
    pub fn record(&self, age_ms: JsValue) -> Result<(), JsValue> {
        let age = edge::int("ageMs", &age_ms)?;
        self.with(|m| m.record(age))
    }

    /// Records the age of a token with `iatMs` verified at `nowMs`.
    #[wasm_bindgen(js_name = recordToken)]
    pub fn record_token(&self, now_ms: JsValue, iat_ms: JsValue) -> Result<(), JsValue> {
        let now = edge::uint("nowMs", &now_ms)?;
        let iat = edge::uint("iatMs", &iat_ms)?;
        self.with(|m| m.record_token(UnixMillis(now), iat))
    }

    /// Adds `other`'s counts to this monitor (merging is commutative and associative).
    pub fn merge(&self, other: &SkewMonitor) -> Result<(), JsValue> {
        let theirs = other
            .inner
            .try_borrow()
            .map_err(|_| type_error("SkewMonitor is already in use (re-entrant call)"))?
            .clone();
        self.with(|m| m.merge(&theirs))
    }

    /// Number of ages recorded.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> Result<f64, JsValue> {
        self.with(|m| count_js(m.count()))
    }

    /// Sum of the recorded ages, ms (exact in core; a JS number here).
    #[wasm_bindgen(getter = sumMs)]
    pub fn sum_ms(&self) -> Result<f64, JsValue> {
        self.with(|m| m.sum_ms() as f64)
    }

    /// The count in each bucket (see `SkewMonitor.edges()`).
    #[wasm_bindgen(getter = bucketCounts)]
    pub fn bucket_counts(&self) -> Result<Vec<f64>, JsValue> {
        self.with(|m| m.bucket_counts().iter().map(|&c| count_js(c)).collect())
    }

    /// The bucket edges in ms, ascending.
    pub fn edges() -> Vec<f64> {
        monitor::EDGES.iter().map(|&e| e as f64).collect()
    }

    /// Estimated nearest-rank quantile `q ∈ [0, 1]` of the ages in ms, or `null` when empty.
    /// Any other `q` is a `RangeError` with `.code = "invalid_quantile"`.
    pub fn quantile(&self, q: JsValue) -> Result<JsValue, JsValue> {
        let q = q
            .as_f64()
            .filter(|q| (0.0..=1.0).contains(q))
            .ok_or_else(|| range_error_with_code(&MonitorError::InvalidQuantile))?;
        Ok(edge::opt_num(self.with(|m| m.quantile(q))?))
    }

    /// The verdict on the verifier's clock: `{ verdict: "insufficient" | "behind" | "ahead" |
    /// "consistent", count, p01Ms, p05Ms, p50Ms, p95Ms, p99Ms }`, under `rules = { minSamples,
    /// behindThresholdMs, expectedMaxAgeMs }` (defaults 50, 2000, 60000).
    pub fn assessment(&self, rules: JsValue) -> Result<JsValue, JsValue> {
        edge::options("rules", &rules)?;
        let d = AssessmentRules::default();
        let rules = AssessmentRules {
            min_samples: edge::opt_uint("rules.minSamples", &edge::get(&rules, "minSamples")?)?
                .map_or(d.min_samples, i64::unsigned_abs),
            behind_threshold_ms: edge::opt_uint(
                "rules.behindThresholdMs",
                &edge::get(&rules, "behindThresholdMs")?,
            )?
            .unwrap_or(d.behind_threshold_ms),
            expected_max_age_ms: edge::opt_uint(
                "rules.expectedMaxAgeMs",
                &edge::get(&rules, "expectedMaxAgeMs")?,
            )?
            .unwrap_or(d.expected_max_age_ms),
        };
        let a = self.with(|m| m.assessment_with(&rules))?;
        Ok(Out::new()
            .str("verdict", a.verdict.as_str())
            .set("count", count_js(a.count))
            .opt_num("p01Ms", a.p01_ms)
            .opt_num("p05Ms", a.p05_ms)
            .opt_num("p50Ms", a.p50_ms)
            .opt_num("p95Ms", a.p95_ms)
            .opt_num("p99Ms", a.p99_ms)
            .build())
    }

    /// The versioned JSON text `{"version":1,"buckets":[...],"sum_ms":...}`.
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json_text(&self) -> Result<String, JsValue> {
        self.with(|m| m.to_json())
    }

    /// Reads the JSON text written by `toJson()` (`invalid_monitor_json`,
    /// `unsupported_monitor_version`).
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json_text(text: JsValue) -> Result<SkewMonitor, JsValue> {
        let text = edge::string("text", &text)?;
        monitor::SkewMonitor::from_json(&text)
            .map(|m| SkewMonitor {
                inner: RefCell::new(m),
            })
            .map_err(|e| core_error(&e))
    }

    /// Prometheus text exposition of the histogram under metric `name` (`invalid_metric_name`).
    pub fn prometheus(&self, name: JsValue) -> Result<String, JsValue> {
        let name = edge::string("name", &name)?;
        self.with(|m| m.prometheus(&name))?
            .map_err(|e| core_error(&e))
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        match self.inner.try_borrow() {
            Ok(m) => format!("{m:?}"),
            Err(_) => "SkewMonitor(in use)".to_owned(),
        }
    }

    /// The histogram as an object: `JSON.parse(toJsonText())` (what `fromJson` reads back).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> Result<JsValue, JsValue> {
        js_sys::JSON::parse(&self.to_json_text()?)
    }
}

impl Default for SkewMonitor {
    fn default() -> Self {
        SkewMonitor::new()
    }
}

//! Clock-offset estimation (core `skew`): `SkewEstimator` and its `Estimate`.

use std::cell::RefCell;

use tokenclock::httpdate::parse_http_date;
use tokenclock::skew::{self, Sample, SampleSource, SkewConfig};
use tokenclock::time::UnixMillis;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{core_error, type_error};
use crate::host::Clock;

/// An offset estimate (core `skew::Estimate`): `offset = server − local` in milliseconds,
/// bounded by `lowMs..=highMs` (`null` when unbounded).
#[wasm_bindgen]
#[derive(Clone, Copy)]
pub struct Estimate {
    pub(crate) inner: skew::Estimate,
}

impl Estimate {
    pub(crate) fn wrap(inner: skew::Estimate) -> Estimate {
        Estimate { inner }
    }
}

/// Reads an estimate from an `Estimate` or any object with `offsetMs`, `lowMs`, `highMs`
/// (and optionally `agreeing`, `samples`); absent → the unknown estimate.
pub fn estimate_arg(param: &str, v: &JsValue) -> Result<skew::Estimate, JsValue> {
    if edge::is_absent(v) {
        return Ok(skew::Estimate::UNKNOWN);
    }
    if !v.is_object() {
        return Err(type_error(&format!(
            "{param} must be an Estimate or {{ offsetMs, lowMs, highMs }}"
        )));
    }
    let count = |key: &str| -> Result<u32, JsValue> {
        Ok(edge::opt_uint_as::<u32>(&format!("{param}.{key}"), &edge::get(v, key)?)?.unwrap_or(0))
    };
    Ok(skew::Estimate {
        offset_ms: edge::int(&format!("{param}.offsetMs"), &edge::get(v, "offsetMs")?)?,
        low_ms: edge::opt_int(&format!("{param}.lowMs"), &edge::get(v, "lowMs")?)?,
        high_ms: edge::opt_int(&format!("{param}.highMs"), &edge::get(v, "highMs")?)?,
        agreeing: count("agreeing")?,
        samples: count("samples")?,
    })
}

#[wasm_bindgen]
impl Estimate {
    /// An estimate from its parts (e.g. one computed elsewhere): `{ offsetMs, lowMs?, highMs?,
    /// agreeing?, samples? }`. With no argument: the unknown estimate (offset 0, unbounded).
    #[wasm_bindgen(constructor)]
    pub fn new(parts: JsValue) -> Result<Estimate, JsValue> {
        Ok(Estimate::wrap(estimate_arg("parts", &parts)?))
    }

    /// Best value of `server − local`, ms.
    #[wasm_bindgen(getter = offsetMs)]
    pub fn offset_ms(&self) -> f64 {
        self.inner.offset_ms as f64
    }

    /// Lowest possible offset, or `null`.
    #[wasm_bindgen(getter = lowMs)]
    pub fn low_ms(&self) -> JsValue {
        edge::opt_num(self.inner.low_ms)
    }

    /// Highest possible offset, or `null`.
    #[wasm_bindgen(getter = highMs)]
    pub fn high_ms(&self) -> JsValue {
        edge::opt_num(self.inner.high_ms)
    }

    /// How many samples agree on `lowMs..=highMs`.
    #[wasm_bindgen(getter)]
    pub fn agreeing(&self) -> u32 {
        self.inner.agreeing
    }

    /// How many samples the estimator held.
    #[wasm_bindgen(getter)]
    pub fn samples(&self) -> u32 {
        self.inner.samples
    }

    /// Both bounds known.
    #[wasm_bindgen(getter = isBounded)]
    pub fn is_bounded(&self) -> bool {
        self.inner.is_bounded()
    }

    /// `highMs − lowMs`, or `null` when unbounded.
    #[wasm_bindgen(getter = widthMs)]
    pub fn width_ms(&self) -> JsValue {
        edge::opt_num(self.inner.width_ms())
    }

    /// Best guess of the server's clock when ours reads `localMs`.
    #[wasm_bindgen(js_name = toServerTime)]
    pub fn to_server_time(&self, local_ms: JsValue) -> Result<f64, JsValue> {
        let local = edge::uint("localMs", &local_ms)?;
        Ok(self.inner.to_server_time(UnixMillis(local)).as_millis() as f64)
    }

    /// Best guess of our clock when the server's reads `serverMs`.
    #[wasm_bindgen(js_name = toLocalTime)]
    pub fn to_local_time(&self, server_ms: JsValue) -> Result<f64, JsValue> {
        let server = edge::uint("serverMs", &server_ms)?;
        Ok(self.inner.to_local_time(UnixMillis(server)).as_millis() as f64)
    }

    /// `[earliest, latest]` the server's clock may read when ours reads `localMs` (`null`
    /// for an unknown bound).
    #[wasm_bindgen(js_name = serverTimeBounds)]
    pub fn server_time_bounds(&self, local_ms: JsValue) -> Result<js_sys::Array, JsValue> {
        let local = edge::uint("localMs", &local_ms)?;
        let (lo, hi) = self.inner.server_time_bounds(UnixMillis(local));
        Ok(js_sys::Array::of2(
            &edge::opt_num(lo.map(UnixMillis::as_millis)),
            &edge::opt_num(hi.map(UnixMillis::as_millis)),
        ))
    }

    /// The fields as a plain object.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        estimate_js(&self.inner)
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        let bound = |b: Option<i64>| b.map_or("?".to_owned(), |v| v.to_string());
        format!(
            "Estimate(offset {} ms in [{}, {}], {}/{} agreeing)",
            self.inner.offset_ms,
            bound(self.inner.low_ms),
            bound(self.inner.high_ms),
            self.inner.agreeing,
            self.inner.samples
        )
    }
}

/// An estimate's fields as a plain object.
pub fn estimate_js(e: &skew::Estimate) -> JsValue {
    Out::new()
        .num("offsetMs", e.offset_ms)
        .opt_num("lowMs", e.low_ms)
        .opt_num("highMs", e.high_ms)
        .num("agreeing", i64::from(e.agreeing))
        .num("samples", i64::from(e.samples))
        .build()
}

/// The `skew` options of an estimator or a session: `{ driftPpm?, maxSamples? }` over the
/// defaults (200 ppm, 16 samples; core clamps both).
pub fn skew_config(param: &str, v: &JsValue) -> Result<SkewConfig, JsValue> {
    edge::options(param, v)?;
    let d = SkewConfig::default();
    Ok(SkewConfig {
        drift_ppm: edge::opt_uint_as::<u32>("driftPpm", &edge::get(v, "driftPpm")?)?
            .unwrap_or(d.drift_ppm),
        max_samples: edge::opt_uint_as::<usize>("maxSamples", &edge::get(v, "maxSamples")?)?
            .unwrap_or(d.max_samples),
    })
}

fn source_arg(v: &JsValue) -> Result<SampleSource, JsValue> {
    match edge::string("source", v)?.as_str() {
        "date" => Ok(SampleSource::DateHeader),
        "iat" => Ok(SampleSource::Iat),
        "sntp" => Ok(SampleSource::Sntp),
        "manual" => Ok(SampleSource::Manual),
        _ => Err(type_error(
            "source must be \"date\", \"iat\", \"sntp\" or \"manual\"",
        )),
    }
}

/// `"wall_stepped"` or `"monotonic_paused"` (core `skew::Explanation`).
pub fn explanation_name(e: skew::Explanation) -> &'static str {
    match e {
        skew::Explanation::WallStepped => "wall_stepped",
        skew::Explanation::MonotonicPaused => "monotonic_paused",
    }
}

/// Reads an explanation name (see [`explanation_name`]).
pub fn explanation_arg(param: &str, v: &JsValue) -> Result<skew::Explanation, JsValue> {
    match edge::string(param, v)?.as_str() {
        "wall_stepped" => Ok(skew::Explanation::WallStepped),
        "monotonic_paused" => Ok(skew::Explanation::MonotonicPaused),
        _ => Err(type_error(&format!(
            "{param} must be \"wall_stepped\" or \"monotonic_paused\""
        ))),
    }
}

/// A resolution as `{ at, wallExcessMs, explanation }`.
pub fn resolution_js(r: &skew::Resolution) -> JsValue {
    Out::new()
        .set("at", edge::reading_js(r.at))
        .num("wallExcessMs", r.discontinuity.wall_excess_ms)
        .str("explanation", explanation_name(r.explanation))
        .build()
}

/// Reads `{ at, wallExcessMs, explanation }` (what `takeResolutions` gives).
pub fn resolution_arg(param: &str, v: &JsValue) -> Result<skew::Resolution, JsValue> {
    if !v.is_object() {
        return Err(type_error(&format!(
            "{param} must be {{ at, wallExcessMs, explanation }}"
        )));
    }
    Ok(skew::Resolution {
        at: edge::reading(&format!("{param}.at"), &edge::get(v, "at")?)?,
        discontinuity: tokenclock::time::Discontinuity {
            wall_excess_ms: edge::int(
                &format!("{param}.wallExcessMs"),
                &edge::get(v, "wallExcessMs")?,
            )?,
        },
        explanation: explanation_arg(
            &format!("{param}.explanation"),
            &edge::get(v, "explanation")?,
        )?,
    })
}

/// The offset estimator for one origin (core `skew::SkewEstimator`).
#[wasm_bindgen]
pub struct SkewEstimator {
    inner: RefCell<skew::SkewEstimator>,
    clock: Clock,
}

impl SkewEstimator {
    fn with<T>(&self, f: impl FnOnce(&mut skew::SkewEstimator) -> T) -> Result<T, JsValue> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("SkewEstimator is already in use (re-entrant call)"))?;
        Ok(f(&mut inner))
    }

    fn add(&self, sample: Result<Sample, skew::SkewError>) -> Result<(), JsValue> {
        let sample = sample.map_err(|e| core_error(&e))?;
        self.with(|est| est.add(sample))
    }
}

#[wasm_bindgen]
impl SkewEstimator {
    /// `new SkewEstimator({ driftPpm = 200, maxSamples = 16, clock })`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<SkewEstimator, JsValue> {
        let config = skew_config("options", &options)?;
        let clock = Clock::from_option(&edge::get(&options, "clock")?)?;
        Ok(SkewEstimator {
            inner: RefCell::new(skew::SkewEstimator::with_config(config)),
            clock,
        })
    }

    /// Adds a sample from an HTTP `Date` header value seen on a response to a request sent at
    /// `sent` and received at `received` (default: now). Throws for an unreadable date
    /// (`invalid_http_date`, ...) or an unusable exchange (`reading_order`,
    /// `clock_discontinuity`, `invalid_sample`).
    #[wasm_bindgen(js_name = addDate)]
    pub fn add_date(
        &self,
        date_header: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let text = edge::string("dateHeader", &date_header)?;
        let sent = edge::reading("sent", &sent)?;
        let received = self.clock.or_now("received", &received)?;
        let date = parse_http_date(&text, received.wall).map_err(|e| core_error(&e))?;
        self.add(Sample::from_date_header(date, sent, received))
    }

    /// Adds a lower bound from a token's `iat` (Unix ms) received at `received`.
    #[wasm_bindgen(js_name = addIat)]
    pub fn add_iat(&self, iat_ms: JsValue, received: JsValue) -> Result<(), JsValue> {
        let iat = edge::uint("iatMs", &iat_ms)?;
        let received = self.clock.or_now("received", &received)?;
        self.add(Sample::from_iat(iat, received))
    }

    /// Adds bounds given directly: the offset was in `[lowMs, highMs]` (`highMs` may be
    /// `null`: a lower bound only) at `at`.
    #[wasm_bindgen(js_name = addBounds)]
    pub fn add_bounds(
        &self,
        low_ms: JsValue,
        high_ms: JsValue,
        at: JsValue,
    ) -> Result<(), JsValue> {
        let low = edge::int("lowMs", &low_ms)?;
        let high = edge::opt_int("highMs", &high_ms)?;
        let at = self.clock.or_now("at", &at)?;
        self.add(Sample::manual(low, high, at))
    }

    /// Notes a reading of the local clocks; returns the discontinuity `{ wallExcessMs }` when
    /// wall and monotonic time disagree since the last reading, else `null`.
    pub fn observe(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = self.clock.or_now("now", &now)?;
        let d = self.with(|est| est.observe(now))?;
        Ok(d.map_or(JsValue::NULL, |d| {
            Out::new().num("wallExcessMs", d.wall_excess_ms).build()
        }))
    }

    /// The estimate at `now` (default: the estimator's clock).
    pub fn estimate(&self, now: JsValue) -> Result<Estimate, JsValue> {
        let now = self.clock.or_now("now", &now)?;
        self.with(|est| Estimate::wrap(est.estimate(now)))
    }

    /// When to send the next `Date` probe so each sample halves the interval:
    /// `{ waitMs, sendAt }`, or `null` once the interval is at most `targetWidthMs` wide.
    #[wasm_bindgen(js_name = nextDateProbe)]
    pub fn next_date_probe(
        &self,
        rtt_ms: JsValue,
        target_width_ms: JsValue,
        now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let rtt = edge::uint("rttMs", &rtt_ms)?;
        let width = edge::uint("targetWidthMs", &target_width_ms)?;
        let now = self.clock.or_now("now", &now)?;
        let probe = self.with(|est| est.next_date_probe(now, rtt, width))?;
        Ok(probe.map_or(JsValue::NULL, |p| {
            Out::new()
                .num("waitMs", p.wait_ms)
                .set("sendAt", edge::reading_js(p.send_at))
                .build()
        }))
    }

    /// The round-trip time of the newest sample from `source` (`"date"`, `"iat"`, `"sntp"`,
    /// `"manual"`), or `null`.
    #[wasm_bindgen(js_name = lastRttMs)]
    pub fn last_rtt_ms(&self, source: JsValue) -> Result<JsValue, JsValue> {
        let source = source_arg(&source)?;
        Ok(edge::opt_num(self.with(|est| est.last_rtt_ms(source))?))
    }

    /// Number of samples held.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> Result<u32, JsValue> {
        self.with(|est| u32::try_from(est.len()).unwrap_or(u32::MAX))
    }

    /// Local clock discontinuities noticed so far.
    #[wasm_bindgen(getter)]
    pub fn discontinuities(&self) -> Result<u32, JsValue> {
        self.with(|est| est.discontinuities())
    }

    /// `{ driftPpm, maxSamples }` in force (after core's clamping).
    #[wasm_bindgen(getter)]
    pub fn config(&self) -> Result<JsValue, JsValue> {
        let c = self.with(|est| est.config())?;
        Ok(Out::new()
            .num("driftPpm", i64::from(c.drift_ppm))
            .num(
                "maxSamples",
                i64::try_from(c.max_samples).unwrap_or(i64::MAX),
            )
            .build())
    }

    /// The discontinuities this estimator explained since the last call (each once):
    /// `[{ at, wallExcessMs, explanation: "wall_stepped" | "monotonic_paused" }]`, for
    /// `applyResolution` on other estimators of the same host and `Lifetime.rebase`.
    #[wasm_bindgen(js_name = takeResolutions)]
    pub fn take_resolutions(&self) -> Result<js_sys::Array, JsValue> {
        let taken = self.with(skew::SkewEstimator::take_resolutions)?;
        Ok(taken.iter().map(resolution_js).collect())
    }

    /// Applies an explanation learnt elsewhere (another estimator of the same host) to the
    /// discontinuity this one noticed at reading `to`: `"wall_stepped"` or
    /// `"monotonic_paused"`. A discontinuity already explained, or none at `to`, is left alone.
    #[wasm_bindgen(js_name = applyResolution)]
    pub fn apply_resolution(&self, to: JsValue, explanation: JsValue) -> Result<(), JsValue> {
        let to = edge::reading("to", &to)?;
        let explanation = explanation_arg("explanation", &explanation)?;
        self.with(|est| est.apply_resolution(to, explanation))
    }

    /// Drops every sample.
    pub fn clear(&self) -> Result<(), JsValue> {
        self.with(skew::SkewEstimator::clear)
    }

    /// The current time on this estimator's clock, `{ wallMs, monoMs }`.
    pub fn now(&self) -> Result<JsValue, JsValue> {
        Ok(edge::reading_js(self.clock.read()?))
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        match self.inner.try_borrow() {
            Ok(est) => format!("SkewEstimator({} samples)", est.len()),
            Err(_) => "SkewEstimator(in use)".to_owned(),
        }
    }

    /// `{ samples, discontinuities }` (`null` while in use).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        match self.inner.try_borrow() {
            Ok(est) => Out::new()
                .num("samples", est.len() as i64)
                .num("discontinuities", i64::from(est.discontinuities()))
                .build(),
            Err(_) => JsValue::NULL,
        }
    }
}

/// SNTP samples: Node only (the `node` and `full` builds), as SNTP needs UDP sockets that
/// browsers do not have.
#[cfg(feature = "node")]
#[wasm_bindgen]
impl SkewEstimator {
    /// Adds a sample from a checked SNTP reply received at `received`.
    #[wasm_bindgen(js_name = addSntp)]
    pub fn add_sntp(
        &self,
        reply: &crate::sntp::SntpReply,
        received: JsValue,
    ) -> Result<(), JsValue> {
        let received = self.clock.or_now("received", &received)?;
        self.add(Sample::from_sntp(&reply.inner, received))
    }
}

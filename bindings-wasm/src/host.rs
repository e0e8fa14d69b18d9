//! What the binding reads from the host: its clocks and its randomness.
//!
//! * The default clock is `Date.now()` (wall) and `performance.timeOrigin + performance.now()`
//!   (monotonic, whole milliseconds); an injected `clock` function returning
//!   `{ wallMs, monoMs }` replaces both.
//! * The default RNG is `crypto.getRandomValues` (through `getrandom`); a `seed` option selects
//!   core's deterministic `SplitMix64` instead (tests and transcripts only).

use js_sys::{Function, Reflect};
use tokenclock::rng::SplitMix64;
use tokenclock::time::Reading;
use tokenclock::RngCore;
use wasm_bindgen::{JsCast, JsValue};

use crate::edge;
use crate::errors::{range_error, tc_error, type_error, Details};

/// Where an object reads "now" when a method is called without a reading.
#[derive(Clone)]
pub enum Clock {
    /// `Date.now()` and `performance`.
    Host,
    /// A user function returning `{ wallMs, monoMs }`.
    Injected(Function),
}

impl Clock {
    /// The `clock` option: absent → the host's clocks; a function → that function.
    pub fn from_option(v: &JsValue) -> Result<Clock, JsValue> {
        if edge::is_absent(v) {
            return Ok(Clock::Host);
        }
        v.clone()
            .dyn_into::<Function>()
            .map(Clock::Injected)
            .map_err(|_| type_error("clock must be a function returning { wallMs, monoMs }"))
    }

    /// Reads both clocks. An injected clock that throws propagates its exception; one that
    /// returns a bad reading is a `RangeError`/`TypeError` naming `clock()`.
    pub fn read(&self) -> Result<Reading, JsValue> {
        match self {
            Clock::Host => host_reading(),
            Clock::Injected(f) => {
                let v = f.call0(&JsValue::UNDEFINED)?;
                edge::reading("clock()", &v)
            }
        }
    }

    /// `reading` if given, else a fresh read of this clock.
    pub fn or_now(&self, param: &str, reading: &JsValue) -> Result<Reading, JsValue> {
        match edge::opt_reading(param, reading)? {
            Some(r) => Ok(r),
            None => self.read(),
        }
    }

    /// A wall time in ms if given, else this clock's wall time.
    pub fn wall_or_now(&self, param: &str, ms: &JsValue) -> Result<i64, JsValue> {
        match edge::opt_uint(param, ms)? {
            Some(ms) => Ok(ms),
            None => Ok(self.read()?.wall.as_millis()),
        }
    }
}

/// `Date.now()` and `performance.timeOrigin + performance.now()`, floored to whole
/// milliseconds. Without a `performance` object (very old hosts) the wall clock stands in for
/// the monotonic one.
fn host_reading() -> Result<Reading, JsValue> {
    let wall = js_sys::Date::now().floor();
    let mono = performance_now()?.unwrap_or(wall).floor();
    let wall = edge::uint_from_f64(wall)
        .map_err(|_| range_error("the host's Date.now() is out of range"))?;
    let mono = edge::uint_from_f64(mono)
        .map_err(|_| range_error("the host's performance clock is out of range"))?;
    Reading::new(wall, mono).map_err(|e| range_error(&format!("the host clock: {e}")))
}

fn performance_now() -> Result<Option<f64>, JsValue> {
    // `performance.timeOrigin` does not change: read it once. `performance.now()` is bound
    // directly (a Reflect lookup per call cost more than the decision itself).
    thread_local! {
        static TIME_ORIGIN: std::cell::Cell<Option<Option<f64>>> = const { std::cell::Cell::new(None) };
    }
    let origin = match TIME_ORIGIN.with(std::cell::Cell::get) {
        Some(o) => o,
        None => {
            let perf = Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))?;
            let o = if perf.is_object() {
                Reflect::get(&perf, &JsValue::from_str("timeOrigin"))?.as_f64()
            } else {
                None
            };
            TIME_ORIGIN.with(|c| c.set(Some(o)));
            o
        }
    };
    let Some(origin) = origin else {
        return Ok(None);
    };
    let now = perf_now().ok();
    Ok(match now {
        Some(n) if (origin + n).is_finite() => Some(origin + n),
        _ => None,
    })
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `performance.now()`; throws (caught) where there is no `performance`.
    #[wasm_bindgen(catch, js_namespace = performance, js_name = now)]
    fn perf_now() -> Result<f64, JsValue>;
}

/// The host's cryptographic RNG (`crypto.getRandomValues` on wasm), checked once when created.
///
/// `RngCore::fill_bytes` cannot fail, so if the source ever failed after that check (it does
/// not on any supported host) the bytes come from a SplitMix64 seeded from it at creation
/// rather than from nowhere — never zeros, never a panic.
pub struct HostRng {
    fallback: SplitMix64,
}

impl HostRng {
    /// Fails with `rng_unavailable` when the host has no secure random source.
    pub fn new() -> Result<HostRng, JsValue> {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|_| {
            tc_error(
                "rng_unavailable",
                "no secure random source (crypto.getRandomValues) is available; pass a seed only in tests",
                Details::new(),
            )
        })?;
        Ok(HostRng {
            fallback: SplitMix64::new(u64::from_le_bytes(seed)),
        })
    }
}

impl RngCore for HostRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if getrandom::fill(dest).is_err() {
            self.fallback.fill_bytes(dest);
        }
    }
}

/// The RNG for an object: `SplitMix64(seed)` when a seed is given, else the host's.
pub fn rng(seed: Option<u64>) -> Result<Box<dyn RngCore + Send>, JsValue> {
    Ok(match seed {
        Some(seed) => Box::new(SplitMix64::new(seed)),
        None => Box::new(HostRng::new()?),
    })
}

//! What the binding reads from the host: its clocks and its randomness.
//!
//! * The default clock is `Date.now()` (wall) and `performance.timeOrigin + performance.now()`
//!   (monotonic, whole milliseconds); an injected `clock` function returning
//!   `{ wallMs, monoMs }` replaces both.
//! * The default RNG is `crypto.getRandomValues` (through `getrandom`) in core's fail-closed
//!   `HostRng`; a `seed` option selects core's deterministic `SplitMix64` instead (tests and
//!   transcripts only).

use js_sys::{Function, Reflect};
use tokenclock::rng::{HostRng, RngHealth, RngUnavailable, SplitMix64};
use tokenclock::time::Reading;
use tokenclock::{ErrorCode, RngCore};
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

/// The randomness of one object: core's [`HostRng`] over `crypto.getRandomValues` (through
/// `getrandom`), failing closed — or `SplitMix64(seed)` in tests. Check [`Rng::check`] after
/// every call that may have drawn from it: a source that failed meanwhile makes the result
/// unusable (`rng_unavailable`), never a weaker fallback.
pub struct Rng {
    /// The generator to hand to core.
    pub rng: Box<dyn RngCore + Send>,
    health: RngHealth,
}

impl Rng {
    /// The handle that reports a later failure of the source.
    pub fn health(&self) -> RngHealth {
        self.health.clone()
    }

    /// `Err(rng_unavailable)` once the host's source has failed.
    pub fn check(&self) -> Result<(), JsValue> {
        self.health.check().map_err(|e| rng_error(&e))
    }
}

fn rng_error(e: &RngUnavailable) -> JsValue {
    tc_error(e.code(), &e.to_string(), Details::new())
}

fn host_fill(dest: &mut [u8]) -> bool {
    getrandom::fill(dest).is_ok()
}

/// The RNG for an object: `SplitMix64(seed)` when a seed is given, else the host's (refused
/// with `rng_unavailable` when the host has no secure source).
pub fn rng(seed: Option<u64>) -> Result<Rng, JsValue> {
    Ok(match seed {
        Some(seed) => Rng {
            rng: Box::new(SplitMix64::new(seed)),
            health: RngHealth::default(),
        },
        None => {
            let (rng, health) =
                HostRng::new(host_fill as fn(&mut [u8]) -> bool).map_err(|e| rng_error(&e))?;
            Rng {
                rng: Box::new(rng),
                health,
            }
        }
    })
}

/// Fills `dest` from the host's secure source, or fails with `rng_unavailable`: for values a
/// binding draws itself (lease values, record nonces, SNTP entropy).
pub fn secure_random(dest: &mut [u8]) -> Result<(), JsValue> {
    let (mut rng, _) =
        HostRng::new(host_fill as fn(&mut [u8]) -> bool).map_err(|e| rng_error(&e))?;
    rng.try_fill(dest).map_err(|e| rng_error(&e))
}

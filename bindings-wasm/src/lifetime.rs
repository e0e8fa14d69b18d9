//! The expiry decision (core `lifetime`): `Lifetime` and the policy options shared with
//! `Session`.

use tokenclock::lifetime::{
    self, DeadlineBasis, LifetimePolicy, Margin, NotBefore, RefreshAt, TokenState, TokenTimes,
};
use tokenclock::time::Reading;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{core_error, type_error};
use crate::host::{self, Clock};
use crate::skew::{estimate_arg, resolution_arg};

/// The `policy` option, merged over core's defaults:
/// `{ margin: { tenthOfLifetimeCapMs } | { fixedMs }, refreshAt: { fraction: [low, high] } |
/// { beforeMs }, assumedLifetimeMs, maxWaitMs, notBefore: "nbf" | "nbf_and_iat" }`.
/// Ranges are core's (`invalid_policy`); numbers are checked at the edge.
pub fn policy_arg(v: &JsValue) -> Result<LifetimePolicy, JsValue> {
    edge::options("policy", v)?;
    let mut p = LifetimePolicy::default();
    let margin = edge::get(v, "margin")?;
    if !edge::is_absent(&margin) {
        edge::options("policy.margin", &margin)?;
        let cap = edge::get(&margin, "tenthOfLifetimeCapMs")?;
        let fixed = edge::get(&margin, "fixedMs")?;
        p.margin = match (edge::is_absent(&cap), edge::is_absent(&fixed)) {
            (false, true) => Margin::TenthOfLifetime {
                cap_ms: edge::uint("policy.margin.tenthOfLifetimeCapMs", &cap)?,
            },
            (true, false) => Margin::Fixed {
                ms: edge::uint("policy.margin.fixedMs", &fixed)?,
            },
            _ => {
                return Err(type_error(
                    "policy.margin must be { tenthOfLifetimeCapMs } or { fixedMs }",
                ))
            }
        };
    }
    let refresh = edge::get(v, "refreshAt")?;
    if !edge::is_absent(&refresh) {
        edge::options("policy.refreshAt", &refresh)?;
        let fraction = edge::get(&refresh, "fraction")?;
        let before = edge::get(&refresh, "beforeMs")?;
        p.refresh_at = match (edge::is_absent(&fraction), edge::is_absent(&before)) {
            (false, true) => {
                if !edge::is_array(&fraction)? {
                    return Err(type_error("policy.refreshAt.fraction must be [low, high]"));
                }
                let low = edge::float(
                    "policy.refreshAt.fraction[0]",
                    &js_sys::Reflect::get_u32(&fraction, 0)?,
                )?;
                let high = edge::float(
                    "policy.refreshAt.fraction[1]",
                    &js_sys::Reflect::get_u32(&fraction, 1)?,
                )?;
                RefreshAt::Fraction { low, high }
            }
            (true, false) => RefreshAt::Before {
                ms: edge::uint("policy.refreshAt.beforeMs", &before)?,
            },
            _ => {
                return Err(type_error(
                    "policy.refreshAt must be { fraction: [low, high] } or { beforeMs }",
                ))
            }
        };
    }
    if let Some(ms) = edge::opt_uint(
        "policy.assumedLifetimeMs",
        &edge::get(v, "assumedLifetimeMs")?,
    )? {
        p.assumed_lifetime_ms = ms;
    }
    if let Some(ms) = edge::opt_uint("policy.maxWaitMs", &edge::get(v, "maxWaitMs")?)? {
        p.max_wait_ms = ms;
    }
    if let Some(nb) = edge::opt_string("policy.notBefore", &edge::get(v, "notBefore")?)? {
        p.not_before = match nb.as_str() {
            "nbf" => NotBefore::Nbf,
            "nbf_and_iat" => NotBefore::NbfAndIat,
            _ => {
                return Err(type_error(
                    "policy.notBefore must be \"nbf\" or \"nbf_and_iat\"",
                ))
            }
        };
    }
    Ok(p)
}

fn basis_name(b: DeadlineBasis) -> &'static str {
    b.as_str()
}

/// A token state as `{ state, waitMs?, until? }`.
pub fn state_js(s: TokenState) -> JsValue {
    let out = Out::new().str("state", s.as_str());
    match s {
        TokenState::NotYetValid { wait_ms, until } => out
            .num("waitMs", wait_ms)
            .set("until", edge::reading_js(until))
            .build(),
        _ => out.build(),
    }
}

fn deadline_js(d: lifetime::Deadline) -> JsValue {
    edge::reading_js(Reading {
        wall: d.wall,
        mono: d.mono,
    })
}

/// The timeline of one token (core `lifetime::Lifetime`): deadline, hard expiry, refresh time,
/// and its state at any reading.
#[wasm_bindgen]
pub struct Lifetime {
    inner: lifetime::Lifetime,
    policy: LifetimePolicy,
    clock: Clock,
}

impl Lifetime {
    pub(crate) fn from_parts(
        inner: lifetime::Lifetime,
        policy: LifetimePolicy,
        clock: Clock,
    ) -> Lifetime {
        Lifetime {
            inner,
            policy,
            clock,
        }
    }
}

#[wasm_bindgen]
impl Lifetime {
    /// `new Lifetime({ times: { expiresInMs?, expMs?, nbfMs?, iatMs? }, sent, received, issuer?,
    /// policy?, seed?, clock? })`: `sent`/`received` bracket the token request; `issuer` is the
    /// estimate of the clock that stamped `exp` (an `Estimate` or `{ offsetMs, lowMs, highMs }`;
    /// default unknown); `seed` fixes the refresh jitter (tests only).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Lifetime, JsValue> {
        if !options.is_object() {
            return Err(type_error("options must be an object"));
        }
        let t = edge::get(&options, "times")?;
        edge::options("times", &t)?;
        let times = TokenTimes {
            expires_in_ms: edge::opt_uint("times.expiresInMs", &edge::get(&t, "expiresInMs")?)?,
            exp_ms: edge::opt_uint("times.expMs", &edge::get(&t, "expMs")?)?,
            nbf_ms: edge::opt_uint("times.nbfMs", &edge::get(&t, "nbfMs")?)?,
            iat_ms: edge::opt_uint("times.iatMs", &edge::get(&t, "iatMs")?)?,
        };
        let sent = edge::reading("sent", &edge::get(&options, "sent")?)?;
        let received = edge::reading("received", &edge::get(&options, "received")?)?;
        let issuer = estimate_arg("issuer", &edge::get(&options, "issuer")?)?;
        let policy = policy_arg(&edge::get(&options, "policy")?)?;
        let seed = edge::opt_seed(&edge::get(&options, "seed")?)?;
        let clock = Clock::from_option(&edge::get(&options, "clock")?)?;
        let mut rng = host::rng(seed)?;
        let inner =
            lifetime::Lifetime::new(&times, sent, received, &issuer, &policy, rng.rng.as_mut())
                .map_err(|e| core_error(&e))?;
        rng.check()?;
        Ok(Lifetime {
            inner,
            policy,
            clock,
        })
    }

    /// This lifetime re-based after a local clock discontinuity was explained (core
    /// `Lifetime::rebase`): `{ at, wallExcessMs, explanation }` as `SkewEstimator.takeResolutions`
    /// gives them. A stepped wall clock moves the wall deadlines with it; a paused monotonic
    /// clock moves the monotonic deadlines back by the pause; a token received after `at` is
    /// left as it is. Returns a new `Lifetime` (this one is unchanged).
    pub fn rebase(&self, resolution: JsValue) -> Result<Lifetime, JsValue> {
        let res = resolution_arg("resolution", &resolution)?;
        let mut inner = self.inner;
        inner.rebase(&res);
        Ok(Lifetime {
            inner,
            policy: self.policy,
            clock: self.clock.clone(),
        })
    }

    /// The token's state at `now` (default: the clock) judged against `server`, the current
    /// estimate of the server that checks the token (default unknown):
    /// `{ state: "fresh" | "stale" | "expired" | "not_yet_valid", waitMs?, until? }`.
    pub fn state(&self, now: JsValue, server: JsValue) -> Result<JsValue, JsValue> {
        let server = estimate_arg("server", &server)?;
        let now = self.clock.or_now("now", &now)?;
        Ok(state_js(self.inner.state(now, &server, &self.policy)))
    }

    /// Milliseconds until hard expiry at `now` (≤ 0: expired).
    #[wasm_bindgen(js_name = untilHardExpiryMs)]
    pub fn until_hard_expiry_ms(&self, now: JsValue, server: JsValue) -> Result<f64, JsValue> {
        let server = estimate_arg("server", &server)?;
        let now = self.clock.or_now("now", &now)?;
        Ok(self.inner.until_hard_expiry_ms(now, &server) as f64)
    }

    /// Milliseconds until `nbf`/`iat` has surely passed on the server's clock (≤ 0: passed).
    #[wasm_bindgen(js_name = untilValidMs)]
    pub fn until_valid_ms(&self, now: JsValue, server: JsValue) -> Result<f64, JsValue> {
        let server = estimate_arg("server", &server)?;
        let now = self.clock.or_now("now", &now)?;
        Ok(self.inner.until_valid_ms(now, &server) as f64)
    }

    /// Milliseconds until the state next changes on its own, or `null` once expired.
    #[wasm_bindgen(js_name = nextChangeMs)]
    pub fn next_change_ms(&self, now: JsValue, server: JsValue) -> Result<JsValue, JsValue> {
        let server = estimate_arg("server", &server)?;
        let now = self.clock.or_now("now", &now)?;
        Ok(edge::opt_num(self.inner.next_change_ms(
            now,
            &server,
            &self.policy,
        )))
    }

    /// The deadline (earliest of `expires_in`, worst-case `exp`, or the assumed lifetime).
    #[wasm_bindgen(getter)]
    pub fn deadline(&self) -> JsValue {
        deadline_js(self.inner.deadline)
    }

    /// Deadline − margin: never handed out from then on.
    #[wasm_bindgen(getter = hardExpiry)]
    pub fn hard_expiry(&self) -> JsValue {
        deadline_js(self.inner.hard_expiry)
    }

    /// When a refresh becomes due.
    #[wasm_bindgen(getter = refreshAt)]
    pub fn refresh_at(&self) -> JsValue {
        deadline_js(self.inner.refresh_at)
    }

    /// `"expires_in"`, `"exp"` or `"assumed"`: which term bound the deadline.
    #[wasm_bindgen(getter)]
    pub fn basis(&self) -> String {
        basis_name(self.inner.basis).to_owned()
    }

    /// Deadline − sent, ms.
    #[wasm_bindgen(getter = lifetimeMs)]
    pub fn lifetime_ms(&self) -> f64 {
        self.inner.lifetime_ms as f64
    }

    /// The margin kept before the deadline, ms.
    #[wasm_bindgen(getter = marginMs)]
    pub fn margin_ms(&self) -> f64 {
        self.inner.margin_ms as f64
    }

    /// The token's `exp` (server clock), or `null`.
    #[wasm_bindgen(getter = expMs)]
    pub fn exp_ms(&self) -> JsValue {
        edge::opt_num(self.inner.exp_ms)
    }

    /// The latest "not before" claim the policy counts (server clock), or `null`.
    #[wasm_bindgen(getter = notBeforeMs)]
    pub fn not_before_ms(&self) -> JsValue {
        edge::opt_num(self.inner.not_before_ms)
    }

    /// The fields as a plain object.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        let l = &self.inner;
        Out::new()
            .set("sent", edge::reading_js(l.sent))
            .set("received", edge::reading_js(l.received))
            .set("deadline", deadline_js(l.deadline))
            .set("hardExpiry", deadline_js(l.hard_expiry))
            .set("refreshAt", deadline_js(l.refresh_at))
            .str("basis", basis_name(l.basis))
            .num("lifetimeMs", l.lifetime_ms)
            .num("marginMs", l.margin_ms)
            .opt_num("expMs", l.exp_ms)
            .opt_num("notBeforeMs", l.not_before_ms)
            .build()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!(
            "Lifetime({} ms by {}, margin {} ms)",
            self.inner.lifetime_ms,
            basis_name(self.inner.basis),
            self.inner.margin_ms
        )
    }
}

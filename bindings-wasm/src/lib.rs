//! WebAssembly bindings for tokenclock (wasm-bindgen), the module behind the npm package.
//!
//! Thin by design: this crate converts JS values to core types and back, reads the host's
//! clocks and randomness, and maps errors to real JS `Error` objects; every decision lives in
//! `tokenclock` (core). Each JS class wraps one core type, one-to-one; names are camelCase
//! (`js_name`).
//!
//! * Times cross the edge as `number` milliseconds (never `bigint`), validated in [`edge`]:
//!   a bad number is a `RangeError` with `.code = "invalid_argument"`, naming the parameter.
//! * Core errors are thrown as `TokenClockError` with the core's stable `.code` ([`errors`]).
//! * In wasm a panic kills the instance for the whole process, and `catch_unwind` is not
//!   available: no path here may panic on any input. There is no `unwrap`/`expect`/indexing
//!   on input-derived values; JS callbacks (clock, getters, iterators) run only through `catch`
//!   imports and before any of the object's own state is borrowed.
//!
//! Three builds (cargo features, docs/bindings.md): `client` (default; the browser's module),
//! `node` (adds the fleet protocol with record sealing, and SNTP: what needs Node's sockets) and
//! `full` (adds `Verifier`, `KeySet`, `SkewMonitor`, signed assertions, the simulation and the
//! command line; links jsonwebtoken's crypto).
#![forbid(unsafe_code)]

use wasm_bindgen::prelude::*;

pub mod edge;
pub mod errors;
#[cfg(feature = "node")]
pub mod fleet;
pub mod host;
pub mod httpdate;
#[cfg(feature = "full")]
pub mod keyset;
pub mod lifetime;
#[cfg(feature = "full")]
pub mod monitor;
pub mod oauth;
pub mod peek;
#[cfg(feature = "full")]
pub mod report;
pub mod session;
#[cfg(feature = "full")]
pub mod sim;
pub mod skew;
#[cfg(feature = "node")]
pub mod sntp;
#[cfg(feature = "full")]
pub mod verify;

/// The package version (the Rust workspace version, which the npm package shares).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// `"client"` or `"full"`: which entry's module this is. `"client"` is the module behind
/// `import "tokenclock"` in both of its builds (the browser's `client`, and `node`, which adds
/// the fleet protocol and SNTP); `"full"` is `tokenclock/full`.
#[wasm_bindgen]
pub fn build() -> String {
    if cfg!(feature = "full") {
        "full"
    } else {
        "client"
    }
    .to_owned()
}

fn rule_args(
    now_ms: &JsValue,
    claim: (&str, &JsValue),
    leeway_ms: &JsValue,
) -> Result<(i64, i64, i64), JsValue> {
    Ok((
        edge::uint("nowMs", now_ms)?,
        edge::uint(claim.0, claim.1)?,
        edge::uint("leewayMs", leeway_ms)?,
    ))
}

/// Is a token with expiry `expMs` expired at `nowMs`, allowing `leewayMs` of leeway?
/// (`now − leeway ≥ exp`, RFC 7519 §4.1.4.)
#[wasm_bindgen(js_name = rulesIsExpired)]
pub fn rules_is_expired(
    now_ms: JsValue,
    exp_ms: JsValue,
    leeway_ms: JsValue,
) -> Result<bool, JsValue> {
    let (now, exp, leeway) = rule_args(&now_ms, ("expMs", &exp_ms), &leeway_ms)?;
    Ok(tokenclock::rules::is_expired(now, exp, leeway))
}

/// Not yet valid: `now + leeway < nbf`.
#[wasm_bindgen(js_name = rulesIsNotYetValid)]
pub fn rules_is_not_yet_valid(
    now_ms: JsValue,
    nbf_ms: JsValue,
    leeway_ms: JsValue,
) -> Result<bool, JsValue> {
    let (now, nbf, leeway) = rule_args(&now_ms, ("nbfMs", &nbf_ms), &leeway_ms)?;
    Ok(tokenclock::rules::is_not_yet_valid(now, nbf, leeway))
}

/// Issued in the future: `now + leeway < iat`.
#[wasm_bindgen(js_name = rulesIsIssuedInFuture)]
pub fn rules_is_issued_in_future(
    now_ms: JsValue,
    iat_ms: JsValue,
    leeway_ms: JsValue,
) -> Result<bool, JsValue> {
    let (now, iat, leeway) = rule_args(&now_ms, ("iatMs", &iat_ms), &leeway_ms)?;
    Ok(tokenclock::rules::is_issued_in_future(now, iat, leeway))
}

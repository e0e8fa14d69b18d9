//! HTTP dates and `Retry-After` (core `httpdate`).

use tokenclock::httpdate::{self, RetryAfter};
use tokenclock::time::UnixMillis;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::core_error;
use crate::host::Clock;

/// Parses an HTTP date in any of the three RFC 9110 forms; returns Unix milliseconds (whole
/// seconds). `referenceMs` (default `Date.now()`) only places an rfc850 two-digit year.
#[wasm_bindgen(js_name = parseHttpDate)]
pub fn parse_http_date(value: JsValue, reference_ms: JsValue) -> Result<f64, JsValue> {
    let value = edge::string("value", &value)?;
    let reference = Clock::Host.wall_or_now("referenceMs", &reference_ms)?;
    httpdate::parse_http_date(&value, UnixMillis(reference))
        .map(|t| t.as_millis() as f64)
        .map_err(|e| core_error(&e))
}

/// Formats Unix milliseconds as an IMF-fixdate (`"Sun, 06 Nov 1994 08:49:37 GMT"`);
/// sub-second milliseconds are floored, times after 9999 are clamped.
#[wasm_bindgen(js_name = formatHttpDate)]
pub fn format_http_date(ms: JsValue) -> Result<String, JsValue> {
    let ms = edge::uint("ms", &ms)?;
    Ok(httpdate::format_http_date(UnixMillis(ms)))
}

/// Parses a `Retry-After` value: `{ kind: "delay", delayMs }` (delay-seconds) or
/// `{ kind: "date", dateMs }` (an HTTP date on the **server's** clock).
#[wasm_bindgen(js_name = parseRetryAfter)]
pub fn parse_retry_after(value: JsValue, reference_ms: JsValue) -> Result<JsValue, JsValue> {
    let value = edge::string("value", &value)?;
    let reference = Clock::Host.wall_or_now("referenceMs", &reference_ms)?;
    match httpdate::parse_retry_after(&value, UnixMillis(reference)) {
        Ok(RetryAfter::Delay { ms }) => {
            Ok(Out::new().str("kind", "delay").num("delayMs", ms).build())
        }
        Ok(RetryAfter::Date(t)) => Ok(Out::new()
            .str("kind", "date")
            .num("dateMs", t.as_millis())
            .build()),
        Err(e) => Err(core_error(&e)),
    }
}

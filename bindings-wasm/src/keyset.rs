//! `KeySet` (core `verify::remote::RemoteKeySet`, full build only): the issuer's JWKS, fetched
//! by the host, cached and refetched by core's rules. The fetching driver is `npm/remote.js`
//! (`RemoteVerifier`); this class only converts.
//!
//! Times cross the edge as readings `{ wallMs, monoMs }` (default: the key set's clock, read
//! now) and durations as ms numbers, like the rest of the JS API. Steps and events are plain
//! objects: `{ step: "ready" | "ready_and_fetch" | "fetch" | "wait" | "unavailable", ticket?,
//! waitMs?, error? }` (`onUnknownKid`: `{ refetch: "fetch" | "wait" | "no", ticket?, waitMs?,
//! retryInMs? }`), a ticket `{ id, kind, url, timeoutMs, maxBodyBytes }`.

use std::cell::RefCell;

use js_sys::Object;
use tokenclock::time::Reading;
use tokenclock::verify::discovery::DiscoveryKind;
use tokenclock::verify::remote::{
    FetchOutcome, FetchResponse, FetchTicket, KeySetConfig, KeySetError, KeySetEvent, KeySetSource,
    KeyStep, Refetch, RemoteKeySet,
};
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{keyset_error, type_error};
use crate::host::Clock;
use crate::skew::Estimate;
use crate::verify::{options_arg, Verifier};

fn ticket_js(t: &FetchTicket) -> JsValue {
    Out::new()
        .num("id", i64::try_from(t.id).unwrap_or(i64::MAX))
        .str("kind", t.kind.as_str())
        .str("url", &t.url)
        .num("timeoutMs", t.timeout_ms)
        .num(
            "maxBodyBytes",
            i64::try_from(t.max_body_bytes).unwrap_or(i64::MAX),
        )
        .build()
}

fn strings(list: &[String]) -> JsValue {
    let out = js_sys::Array::new();
    for s in list {
        out.push(&JsValue::from_str(s));
    }
    out.into()
}

fn event_js(e: &KeySetEvent) -> JsValue {
    let out = Out::new().str("event", e.name());
    match e {
        KeySetEvent::Discovered { jwks_uri } => out.str("jwksUri", jwks_uri),
        KeySetEvent::KeysUpdated {
            keys,
            added,
            removed,
            fresh_for_ms,
        } => out
            .num("keys", i64::try_from(*keys).unwrap_or(i64::MAX))
            .set("added", strings(added))
            .set("removed", strings(removed))
            .num("freshForMs", *fresh_for_ms),
        KeySetEvent::FetchFailed {
            kind,
            code,
            retry_in_ms,
            serving_last_good,
        } => out
            .str("kind", kind.as_str())
            .str("code", code)
            .num("retryInMs", *retry_in_ms)
            .set("servingLastGood", *serving_last_good),
        KeySetEvent::Recovered { failures } => out.num("failures", i64::from(*failures)),
        KeySetEvent::GraceEnded { kids } => out.set("kids", strings(kids)),
        KeySetEvent::ClockOffset {
            low_ms,
            high_ms,
            leeway_ms,
        } => out
            .opt_num("lowMs", *low_ms)
            .opt_num("highMs", *high_ms)
            .num("leewayMs", *leeway_ms),
        KeySetEvent::ClockAgrees { offset_ms } => out.num("offsetMs", *offset_ms),
        _ => out,
    }
    .build()
}

/// An optional ms duration option over its default.
fn ms_option(options: &JsValue, name: &str, field: &mut i64) -> Result<(), JsValue> {
    if let Some(v) = edge::opt_uint(name, &edge::get(options, name)?)? {
        *field = v;
    }
    Ok(())
}

fn config_arg(options: &JsValue) -> Result<KeySetConfig, JsValue> {
    let mut c = KeySetConfig::default();
    ms_option(options, "fetchTimeoutMs", &mut c.fetch_timeout_ms)?;
    ms_option(options, "cooldownMs", &mut c.cooldown_ms)?;
    ms_option(options, "cacheMs", &mut c.default_cache_ms)?;
    ms_option(options, "minCacheMs", &mut c.min_cache_ms)?;
    ms_option(options, "maxCacheMs", &mut c.max_cache_ms)?;
    ms_option(options, "graceMs", &mut c.grace_ms)?;
    ms_option(options, "retryMinMs", &mut c.retry_min_ms)?;
    ms_option(options, "retryMaxMs", &mut c.retry_max_ms)?;
    if let Some(b) = edge::opt_bool("allowPlainHttp", &edge::get(options, "allowPlainHttp")?)? {
        c.allow_plain_http = b;
    }
    if let Some(d) = edge::opt_string("discovery", &edge::get(options, "discovery")?)? {
        c.discovery = DiscoveryKind::from_name(&d)
            .ok_or_else(|| type_error("discovery must be \"openid\" or \"oauth\""))?;
    }
    Ok(c)
}

/// An optional header value: a string, or `null`/`undefined`.
fn header_arg(param: &str, v: &JsValue) -> Result<Option<String>, JsValue> {
    edge::opt_string(param, v)
}

/// The issuer's key set (core `RemoteKeySet`), fetched by the host: discovery with an exact
/// issuer match, cache lifetime from `max-age` (bounded), one fetch in flight, an unknown
/// `kid` refetches at most once per cooldown, a failed fetch never drops the keys in use, keys
/// that leave the set are kept for a grace period, and the responses' `Date` estimate the
/// issuer's clock. `toString()`/`toJSON()` show the URL and key count, never key material.
#[wasm_bindgen]
pub struct KeySet {
    inner: RefCell<RemoteKeySet>,
    clock: Clock,
}

impl KeySet {
    /// Runs `f` on the core key set. Every argument is converted before this is called, so no
    /// JS code runs while the borrow is held.
    fn with<T>(&self, f: impl FnOnce(&mut RemoteKeySet) -> T) -> Result<T, JsValue> {
        let mut g = self
            .inner
            .try_borrow_mut()
            .map_err(|_| type_error("KeySet is in use (re-entrant call)"))?;
        Ok(f(&mut g))
    }

    fn now(&self, param: &str, v: &JsValue) -> Result<Reading, JsValue> {
        self.clock.or_now(param, v)
    }
}

#[wasm_bindgen]
impl KeySet {
    /// `new KeySet({ jwksUri | issuer, algorithms, leewayMs?, audience?, issuerClaim?,
    /// maxAgeMs?, requireExp?, fetchTimeoutMs?, cooldownMs?, cacheMs?, minCacheMs?,
    /// maxCacheMs?, graceMs?, retryMinMs?, retryMaxMs?, allowPlainHttp?, discovery?, clock? })`.
    /// An `issuer` is discovered first (`discovery`: `"openid"` (default) or `"oauth"`) and
    /// becomes the required `iss` unless `issuerClaim` names another. Throws `TokenClockError`
    /// (`invalid_config`, `invalid_url`, `insecure_url`, an algorithm's code).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<KeySet, JsValue> {
        if !options.is_object() {
            return Err(type_error("options must be an object"));
        }
        let jwks_uri = edge::opt_string("jwksUri", &edge::get(&options, "jwksUri")?)?;
        let issuer = edge::opt_string("issuer", &edge::get(&options, "issuer")?)?;
        let source = match (jwks_uri, issuer) {
            (Some(u), None) => KeySetSource::JwksUri(u),
            (None, Some(i)) => KeySetSource::Issuer(i),
            _ => return Err(type_error("give exactly one of jwksUri and issuer")),
        };
        // The verifier's options (`issuer` there is the key set's source: the required
        // `iss` is `issuerClaim`).
        let mut o = options_arg(&options)?;
        o.issuer = edge::opt_string("issuerClaim", &edge::get(&options, "issuerClaim")?)?;
        let config = config_arg(&options)?;
        let clock = Clock::from_option(&edge::get(&options, "clock")?)?;
        let inner = RemoteKeySet::new(source, o, config).map_err(|e| keyset_error(&e))?;
        Ok(KeySet {
            inner: RefCell::new(inner),
            clock,
        })
    }

    /// What a verification does now: `{ step: "ready" }`, `{ step: "ready_and_fetch", ticket
    /// }` (verify, and perform the fetch in the background), `{ step: "fetch", ticket }`
    /// (perform it, then ask again), `{ step: "wait", waitMs }` (for the fetch in flight) or
    /// `{ step: "unavailable", error }` (a `keys_unavailable` `TokenClockError` to throw).
    pub fn step(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = self.now("now", &now)?;
        Ok(match self.with(|k| k.step(now))? {
            KeyStep::Ready => Out::new().str("step", "ready").build(),
            KeyStep::ReadyAndFetch(t) => Out::new()
                .str("step", "ready_and_fetch")
                .set("ticket", ticket_js(&t))
                .build(),
            KeyStep::Fetch(t) => Out::new()
                .str("step", "fetch")
                .set("ticket", ticket_js(&t))
                .build(),
            KeyStep::Wait { wait_ms } => Out::new()
                .str("step", "wait")
                .num("waitMs", wait_ms)
                .build(),
            KeyStep::Unavailable(e) => Out::new()
                .str("step", "unavailable")
                .set("error", keyset_error(&e))
                .build(),
        })
    }

    /// A verification failed with `unknown_kid` for a `kid` the token names:
    /// `{ refetch: "fetch", ticket }` (perform it, then verify again), `{ refetch: "wait",
    /// waitMs }` (for the fetch in flight) or `{ refetch: "no", retryInMs }` (the error stands).
    #[wasm_bindgen(js_name = onUnknownKid)]
    pub fn on_unknown_kid(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = self.now("now", &now)?;
        Ok(match self.with(|k| k.on_unknown_kid(now))? {
            Refetch::Fetch(t) => Out::new()
                .str("refetch", "fetch")
                .set("ticket", ticket_js(&t))
                .build(),
            Refetch::Wait { wait_ms } => Out::new()
                .str("refetch", "wait")
                .num("waitMs", wait_ms)
                .build(),
            Refetch::No { retry_in_ms } => Out::new()
                .str("refetch", "no")
                .num("retryInMs", retry_in_ms)
                .build(),
        })
    }

    /// The response to ticket `ticketId`: `status`, `body` (a `Uint8Array`, or a string sent
    /// as UTF-8; read at most the ticket's `maxBodyBytes + 1` bytes), the `Date`,
    /// `Cache-Control` and `Age` headers (`null` when absent); `sent`/`received` (default now)
    /// bracket the exchange. Returns `{ outcome: "discovered" }` or `{ outcome: "keys_updated",
    /// keys, freshForMs }`; throws `TokenClockError` (the fetch failed: the keys in use stay,
    /// the next attempt is backed off; or `stale_ticket`).
    #[wasm_bindgen(js_name = onResponse)]
    #[allow(clippy::too_many_arguments)]
    pub fn on_response(
        &self,
        ticket_id: JsValue,
        status: JsValue,
        body: JsValue,
        date: JsValue,
        cache_control: JsValue,
        age: JsValue,
        sent: JsValue,
        received: JsValue,
    ) -> Result<JsValue, JsValue> {
        let id = edge::uint("ticketId", &ticket_id)?.unsigned_abs();
        let status = edge::uint_as::<u16>("status", &status)?;
        let body = edge::body("body", &body)?;
        let date = header_arg("date", &date)?;
        let cache_control = header_arg("cacheControl", &cache_control)?;
        let age = header_arg("age", &age)?;
        let received = self.now("received", &received)?;
        let sent = edge::opt_reading("sent", &sent)?.unwrap_or(received);
        let response = FetchResponse {
            status,
            body: &body,
            date: date.as_deref(),
            cache_control: cache_control.as_deref(),
            age: age.as_deref(),
        };
        match self.with(|k| k.on_response(id, response, sent, received))? {
            Ok(FetchOutcome::Discovered) => Ok(Out::new().str("outcome", "discovered").build()),
            Ok(FetchOutcome::KeysUpdated { keys, fresh_for_ms }) => Ok(Out::new()
                .str("outcome", "keys_updated")
                .num("keys", i64::try_from(keys).unwrap_or(i64::MAX))
                .num("freshForMs", fresh_for_ms)
                .build()),
            Err(e) => Err(keyset_error(&e)),
        }
    }

    /// Fetch `ticketId` could not complete: `code` `"transport_error"` or `"timeout"`. Throws
    /// `stale_ticket` when it is no longer in flight.
    #[wasm_bindgen(js_name = onFailure)]
    pub fn on_failure(
        &self,
        ticket_id: JsValue,
        code: JsValue,
        now: JsValue,
    ) -> Result<(), JsValue> {
        let id = edge::uint("ticketId", &ticket_id)?.unsigned_abs();
        let error = match edge::string("code", &code)?.as_str() {
            "timeout" => KeySetError::Timeout,
            "transport_error" => KeySetError::Transport,
            _ => {
                return Err(type_error(
                    "code must be \"transport_error\" or \"timeout\"",
                ))
            }
        };
        let now = self.now("now", &now)?;
        self.with(|k| k.on_failure(id, &error, now))?
            .map_err(|e| keyset_error(&e))
    }

    /// A number that changes whenever the keys in use change (a fetched set, a grace period's
    /// end): take a new `verifier()` when it moved.
    pub fn generation(&self) -> Result<f64, JsValue> {
        // Wraps at 2^53 (never in practice): stays an exact, changing number.
        self.with(|k| (k.generation() & ((1 << 53) - 1)) as f64)
    }

    /// The keys in use as a `Verifier` of this module (a copy: take a new one when
    /// `generation()` moved), or `null` before any key set was fetched. Call `step` first: it
    /// drops keys whose rotation grace ended.
    pub fn verifier(&self) -> Result<JsValue, JsValue> {
        let clock = self.clock.clone();
        let v = self.with(|k| k.verifier().cloned())?;
        Ok(v.map_or(JsValue::NULL, |v| Verifier::from_core(v, clock).into()))
    }

    /// The issuer's clock as the responses' `Date` headers show it (`issuer − local`).
    pub fn estimate(&self, now: JsValue) -> Result<Estimate, JsValue> {
        let now = self.now("now", &now)?;
        self.with(|k| Estimate::wrap(k.estimate(now)))
    }

    /// `true` when this host's clock is off from the issuer's by more than the leeway (the
    /// whole offset interval outside ±leeway), `false` when not, `null` before both bounds are
    /// known. For a metric; the `clock_offset` event is the log line.
    #[wasm_bindgen(js_name = clockOff)]
    pub fn clock_off(&self, now: JsValue) -> Result<JsValue, JsValue> {
        let now = self.now("now", &now)?;
        Ok(self
            .with(|k| k.clock_off(now))?
            .map_or(JsValue::NULL, JsValue::from_bool))
    }

    /// The next event, oldest first (`{ event, ...fields }`, times in ms), or `null`.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&self) -> Result<JsValue, JsValue> {
        Ok(self
            .with(RemoteKeySet::poll_event)?
            .map_or(JsValue::NULL, |e| event_js(&e)))
    }

    /// The key set URL: configured, or learned by discovery (`null` before).
    #[wasm_bindgen(getter = jwksUri)]
    pub fn jwks_uri(&self) -> Result<JsValue, JsValue> {
        self.with(|k| edge::opt_str(k.jwks_uri()))
    }

    /// The `kid`s of the keys in use (including those in their rotation grace).
    #[wasm_bindgen(getter)]
    pub fn kids(&self) -> Result<Vec<String>, JsValue> {
        self.with(|k| {
            k.verifier()
                .map(|v| v.kids().into_iter().map(str::to_owned).collect())
                .unwrap_or_default()
        })
    }

    /// The leeway, ms.
    #[wasm_bindgen(getter = leewayMs)]
    pub fn leeway_ms(&self) -> Result<f64, JsValue> {
        self.with(|k| k.options().leeway_ms as f64)
    }

    /// `{ jwksUri, kids, keyCount, leewayMs }`: what `JSON.stringify` shows; never key
    /// material.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> Result<Object, JsValue> {
        let (uri, kids, count, leeway) = self.with(|k| {
            (
                k.jwks_uri().map(str::to_owned),
                k.verifier()
                    .map(|v| {
                        v.kids()
                            .into_iter()
                            .map(str::to_owned)
                            .collect::<Vec<String>>()
                    })
                    .unwrap_or_default(),
                k.verifier().map_or(0, |v| v.key_count()),
                k.options().leeway_ms,
            )
        })?;
        let out = Object::new();
        let set = |key: &str, value: JsValue| {
            let _ = js_sys::Reflect::set(&out, &JsValue::from_str(key), &value);
        };
        set("jwksUri", edge::opt_str(uri.as_deref()));
        set("kids", strings(&kids));
        set(
            "keyCount",
            edge::num(i64::try_from(count).unwrap_or(i64::MAX)),
        );
        set("leewayMs", edge::num(leeway));
        Ok(out)
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        match self.inner.try_borrow() {
            Ok(k) => format!(
                "KeySet(jwksUri={}, keys={})",
                k.jwks_uri().unwrap_or("null"),
                k.verifier().map_or(0, |v| v.key_count())
            ),
            Err(_) => "KeySet(<in use>)".to_owned(),
        }
    }
}

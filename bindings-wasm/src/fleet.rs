//! `FleetRefresh` (core `fleet::FleetRefresh`): the fleet refresh protocol's decisions, for
//! `RedisStore` in `npm/store.js`. The Redis I/O is JavaScript's; every decision is core's.
//!
//! Methods take the `Session` the ticket belongs to; `now` defaults to that session's clock.
//! Actions cross as plain objects: `{ kind, lease, fencing, leaseMs, request, value, ttlMs,
//! until, waitMs, outcome, tokenId, notes }` (absent fields `null`; `notes` drained with each
//! answer).

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect};
use tokenclock::fleet as core_f;
use tokenclock::record::RecordKey;
use tokenclock::session::TicketId;
use tokenclock::time::Reading;
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{core_error, range_error, type_error};
use crate::session::Session;

/// The fleet refresh protocol for one ticket: answer each action with the matching `on*`
/// method until `kind === "done"`.
#[wasm_bindgen]
pub struct FleetRefresh {
    inner: RefCell<core_f::FleetRefresh>,
}

fn set(o: &Object, k: &str, v: JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), &v);
}

fn opt_u64(v: Option<u64>) -> JsValue {
    v.map_or(JsValue::NULL, |x| JsValue::from_f64(x as f64))
}

impl FleetRefresh {
    fn action_js(&self, fleet: &mut core_f::FleetRefresh, now: Option<Reading>) -> JsValue {
        let a = fleet.action().clone();
        let o = Object::new();
        set(&o, "kind", JsValue::from_str(a.kind()));
        let (mut fencing, mut lease, mut value, mut ttl, mut until, mut wait, mut outcome) =
            (None, None, None, None, None, None, None);
        let (mut token, mut lease_value, mut request) = (None, None, JsValue::NULL);
        match &a {
            core_f::FleetAction::TakeLease { lease: l, lease_ms } => {
                lease = Some(*lease_ms);
                lease_value = Some(l.clone());
            }
            core_f::FleetAction::Fetch {
                fencing: f,
                request: r,
            } => {
                fencing = *f;
                if let Some(r) = r {
                    request = crate::oauth::TokenRequest { inner: r.clone() }.into();
                }
            }
            core_f::FleetAction::Publish {
                lease: l,
                fencing: f,
                value: v,
                ttl_ms,
            } => {
                lease_value = Some(l.clone());
                fencing = Some(*f);
                value = Some(v.clone());
                ttl = Some(*ttl_ms);
            }
            core_f::FleetAction::Release {
                lease: l,
                fencing: f,
            } => {
                lease_value = Some(l.clone());
                fencing = Some(*f);
            }
            core_f::FleetAction::Wait { until: u } => {
                until = Some(*u);
                wait = now.map(|n| u.mono.since(n.mono).max(0));
            }
            core_f::FleetAction::Done(o) => {
                outcome = Some(o.as_str());
                if let core_f::FleetOutcome::Adopted(id) = o {
                    token = Some(id.0);
                }
            }
            _ => {}
        }
        set(&o, "lease", edge::opt_str(lease_value.as_deref()));
        set(&o, "request", request);
        set(&o, "fencing", opt_u64(fencing));
        set(&o, "leaseMs", opt_u64(lease));
        set(&o, "value", edge::opt_str(value.as_deref()));
        set(&o, "ttlMs", opt_u64(ttl));
        set(&o, "until", edge::opt_reading_js(until));
        set(&o, "waitMs", edge::opt_num(wait));
        set(&o, "outcome", edge::opt_str(outcome));
        set(&o, "tokenId", opt_u64(token));
        // The error the caller holding the ticket reports when the fleet failed the refresh
        // itself (nothing was fetched).
        set(
            &o,
            "error",
            fleet
                .failure()
                .map_or(JsValue::NULL, crate::errors::session_error),
        );
        let notes = Array::new();
        while let Some(n) = fleet.poll_note() {
            let text = match n {
                core_f::FleetNote::RecordIgnored { code } => format!("record_ignored:{code}"),
                other => other.kind().to_owned(),
            };
            notes.push(&JsValue::from_str(&text));
        }
        set(&o, "notes", notes.into());
        o.into()
    }

    fn borrow(&self) -> Result<std::cell::RefMut<'_, core_f::FleetRefresh>, JsValue> {
        self.inner
            .try_borrow_mut()
            .map_err(|_| type_error("FleetRefresh is already in use (re-entrant call)"))
    }

    fn step(
        &self,
        session: &Session,
        now: &JsValue,
        f: impl FnOnce(
            &mut core_f::FleetRefresh,
            &mut tokenclock::session::Session,
            Reading,
        ) -> Result<(), core_f::FleetError>,
    ) -> Result<JsValue, JsValue> {
        let now = session.clock.or_now("now", now)?;
        let mut fleet = self.borrow()?;
        session
            .with(|s| f(&mut fleet, s, now))?
            .map_err(|e| core_error(&e))?;
        Ok(self.action_js(&mut fleet, Some(now)))
    }

    fn plain(
        &self,
        f: impl FnOnce(&mut core_f::FleetRefresh) -> Result<(), core_f::FleetError>,
    ) -> Result<JsValue, JsValue> {
        let mut fleet = self.borrow()?;
        f(&mut fleet).map_err(|e| core_error(&e))?;
        Ok(self.action_js(&mut fleet, None))
    }
}

#[wasm_bindgen]
impl FleetRefresh {
    /// `new FleetRefresh(ticketId, storeKey, { leaseMs?, pollMs?, maxWaitMs?, encryptionKey? })`:
    /// `storeKey` is the record key (`storeKeys(session).record`); `encryptionKey` a 32-byte
    /// `Uint8Array` that seals records (AES-256-GCM).
    #[wasm_bindgen(constructor)]
    pub fn new(
        ticket_id: JsValue,
        store_key: JsValue,
        options: JsValue,
    ) -> Result<FleetRefresh, JsValue> {
        let ticket = TicketId(edge::uint("ticketId", &ticket_id)?.unsigned_abs());
        let store_key = edge::string("storeKey", &store_key)?;
        edge::options("options", &options)?;
        let mut config = core_f::FleetConfig::default();
        let ms = |name: &str| -> Result<Option<u64>, JsValue> {
            Ok(edge::opt_uint(name, &edge::get(&options, name)?)?.map(i64::unsigned_abs))
        };
        if let Some(v) = ms("leaseMs")? {
            config.lease_ms = v;
        }
        if let Some(v) = ms("pollMs")? {
            config.poll_ms = v;
        }
        if let Some(v) = ms("maxWaitMs")? {
            config.max_wait_ms = v;
        }
        let key = edge::get(&options, "encryptionKey")?;
        let key = if edge::is_absent(&key) {
            None
        } else {
            let bytes = edge::bytes("encryptionKey", &key)?;
            Some(
                RecordKey::new(&bytes)
                    .ok_or_else(|| range_error("encryptionKey must be exactly 32 bytes"))?,
            )
        };
        // Fail closed: no lease value from anything but the host's CSPRNG.
        let mut lease_entropy = [0u8; 16];
        crate::host::secure_random(&mut lease_entropy)?;
        let inner = core_f::FleetRefresh::new(ticket, config, &store_key, key, lease_entropy)
            .map_err(|e| core_error(&e))?;
        Ok(FleetRefresh {
            inner: RefCell::new(inner),
        })
    }

    /// The action to perform now (plain object).
    pub fn action(&self) -> Result<JsValue, JsValue> {
        self.plain(|_| Ok(()))
    }

    /// `{ ticketId, action }` (the current action's kind; `null` while in use). Never a lease
    /// value, record or key.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        match self.inner.try_borrow() {
            Ok(f) => Out::new()
                .num("ticketId", f.ticket().0 as i64)
                .str("action", f.action().kind())
                .build(),
            Err(_) => JsValue::NULL,
        }
    }

    /// The answer to `read`: the value at the record key (`null` when absent).
    #[wasm_bindgen(js_name = onRecord)]
    pub fn on_record(
        &self,
        session: &Session,
        value: JsValue,
        now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let value = edge::opt_string("value", &value)?;
        self.step(session, &now, |f, s, now| {
            f.on_record(s, value.as_deref(), now).map(|_| ())
        })
    }

    /// The bound on this refresh's token request and issuer probe, ms: the session's
    /// `tokenTimeoutMs`, cut to two thirds of the lease (a request outliving the lease would
    /// let a peer present the same refresh token again).
    #[wasm_bindgen(js_name = tokenTimeoutMs)]
    pub fn token_timeout_ms(&self, session: &Session) -> Result<f64, JsValue> {
        let fleet = self.borrow()?;
        // At most 10 min: exact as an f64.
        Ok(session.with(|s| fleet.token_timeout_ms(s))? as f64)
    }

    /// The answer to `probe_issuer` (after `session.addIssuerDate`, also when it failed).
    #[wasm_bindgen(js_name = onProbe)]
    pub fn on_probe(&self, session: &Session, now: JsValue) -> Result<JsValue, JsValue> {
        self.step(session, &now, |f, s, now| f.on_probe(s, now).map(|_| ()))
    }

    /// The answer to `take_lease`: the fencing token the script returned (0 or `null`: a peer
    /// holds the lease).
    #[wasm_bindgen(js_name = onLease)]
    pub fn on_lease(
        &self,
        session: &Session,
        fencing: JsValue,
        now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let fencing = edge::opt_uint("fencing", &fencing)?.map(i64::unsigned_abs);
        self.step(session, &now, |f, s, now| {
            f.on_lease(s, fencing, now).map(|_| ())
        })
    }

    /// The answer to `wait`.
    #[wasm_bindgen(js_name = onWake)]
    pub fn on_wake(&self, session: &Session, now: JsValue) -> Result<JsValue, JsValue> {
        self.step(session, &now, |f, _, now| f.on_wake(now).map(|_| ()))
    }

    /// The answer to `fetch`: `ok` when `completeRefresh` returned a token.
    #[wasm_bindgen(js_name = onFetched)]
    pub fn on_fetched(
        &self,
        session: &Session,
        ok: JsValue,
        now: JsValue,
    ) -> Result<JsValue, JsValue> {
        let ok = ok
            .as_bool()
            .ok_or_else(|| type_error("ok must be a boolean"))?;
        let mut nonce = [0u8; 12];
        crate::host::secure_random(&mut nonce)?;
        self.step(session, &now, |f, s, now| {
            f.on_fetched(s, ok, now, nonce).map(|_| ())
        })
    }

    /// The answer to `publish`: whether the script wrote the record.
    #[wasm_bindgen(js_name = onPublished)]
    pub fn on_published(&self, written: JsValue) -> Result<JsValue, JsValue> {
        let written = written
            .as_bool()
            .ok_or_else(|| type_error("written must be a boolean"))?;
        self.plain(|f| f.on_published(written).map(|_| ()))
    }

    /// The answer to `release`.
    #[wasm_bindgen(js_name = onReleased)]
    pub fn on_released(&self) -> Result<JsValue, JsValue> {
        self.plain(|f| f.on_released().map(|_| ()))
    }

    /// A store command failed or timed out: the refresh goes on without the store (or fails
    /// as `store_unavailable` when the fleet shares the session's refresh token).
    #[wasm_bindgen(js_name = onStoreError)]
    pub fn on_store_error(&self, session: &Session, now: JsValue) -> Result<JsValue, JsValue> {
        self.step(session, &now, |f, s, now| {
            f.on_store_error(s, now).map(|_| ())
        })
    }
}

/// The Redis keys of the session's credential identity under `prefix` (default
/// `"tokenclock"`), for a store whose records are `sealed` (boolean) or not:
/// `{ record, lease, fence }`. Throws `partition_required` for an authorization-code or
/// refresh-token session without a partition, `encryption_required` when its records (which
/// carry the refresh token) would not be sealed.
#[wasm_bindgen(js_name = storeKeys)]
pub fn store_keys(session: &Session, prefix: JsValue, sealed: JsValue) -> Result<JsValue, JsValue> {
    let prefix = edge::opt_string("prefix", &prefix)?.unwrap_or_else(|| "tokenclock".into());
    let sealing = match sealed.as_bool() {
        Some(true) => core_f::Sealing::Sealed,
        Some(false) => core_f::Sealing::Clear,
        None if edge::is_absent(&sealed) => core_f::Sealing::Clear,
        None => return Err(type_error("sealed must be a boolean")),
    };
    let k = session
        .with(|s| core_f::StoreKeys::for_session(&prefix, s, sealing))?
        .map_err(|e| core_error(&e))?;
    let o = Object::new();
    set(&o, "record", JsValue::from_str(&k.record));
    set(&o, "lease", JsValue::from_str(&k.lease));
    set(&o, "fence", JsValue::from_str(&k.fence));
    Ok(o.into())
}

/// The fleet's Redis scripts (`{ takeLease, publish, release }`), shared with every front-end.
#[wasm_bindgen(js_name = fleetScripts)]
pub fn fleet_scripts() -> JsValue {
    let o = Object::new();
    set(&o, "takeLease", JsValue::from_str(core_f::LUA_TAKE_LEASE));
    set(&o, "publish", JsValue::from_str(core_f::LUA_PUBLISH));
    set(&o, "release", JsValue::from_str(core_f::LUA_RELEASE));
    o.into()
}

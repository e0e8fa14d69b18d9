//! The resource-server side (core `verify`, full build only): `Verifier`.
//!
//! Two ways to verify, one answer. `verify` runs all of core's verification (signatures by the
//! code compiled into this module). The package's JS `Verifier` (`npm/verify.js`) checks
//! RSA, ECDSA and Ed25519 signatures with the host's native crypto between core's `prepare`
//! and `decide`: `prepare(token, nowMs)` → a handle; `preparedInfo`, `preparedKeys`,
//! `preparedSignature` say what to check; `finish(handle, valid)` → the same result text
//! `verify` builds, or `finishWithCore(handle)` when core checks the signature itself (HMAC,
//! which the module computes faster than a host call costs, or a key without a host form);
//! `discard(handle)` drops a handle not finished. Keys for the host come from `hostKeys()`
//! (one JWK or `null` per key index).

use std::cell::{Cell, RefCell};

use tokenclock::time::UnixMillis;
use tokenclock::verify::{
    self, Algorithm, HostKey, KeySource, Prepared, SignatureCheck, VerifyOptions,
};
use wasm_bindgen::prelude::*;

use crate::edge;
use crate::errors::{type_error, verify_error};
use crate::host::Clock;

/// Key material as handed to core (owned here, borrowed by `KeySource`).
enum Key {
    /// A bare `Uint8Array`: core decides between a secret and a PEM by the pinned algorithms.
    Bytes(Vec<u8>),
    Secret(Vec<u8>),
    Pem(String),
    Jwk(String),
    Jwks(String),
}

impl Key {
    fn source(&self) -> KeySource<'_> {
        match self {
            Key::Bytes(b) => KeySource::Bytes(b),
            Key::Secret(b) => KeySource::Secret(b),
            Key::Pem(p) => KeySource::Pem(p.as_bytes()),
            Key::Jwk(j) => KeySource::Jwk(j),
            Key::Jwks(j) => KeySource::Jwks(j),
        }
    }
}

/// `key`: a PEM string; a `Uint8Array` (core: an HMAC secret when an HS algorithm is pinned,
/// else PEM bytes, as PyJWT and jsonwebtoken take a Buffer); a JWK object (`{ kty, ... }`); or,
/// spelled out, `{ pem }`, `{ secret: Uint8Array | string }`, `{ jwk: object | string }`. A
/// plain string is always PEM, never an HMAC secret.
fn key_arg(v: &JsValue) -> Result<Key, JsValue> {
    if v.is_string() {
        return Ok(Key::Pem(edge::string("key", v)?));
    }
    if edge::is_bytes(v) {
        return Ok(Key::Bytes(edge::bytes("key", v)?));
    }
    if !v.is_object() {
        return Err(type_error(
            "key must be a PEM string, a Uint8Array secret, a JWK object, or { pem } / { secret } / { jwk }",
        ));
    }
    let pem = edge::get(v, "pem")?;
    if !edge::is_absent(&pem) {
        return Ok(Key::Pem(edge::string("key.pem", &pem)?));
    }
    let secret = edge::get(v, "secret")?;
    if !edge::is_absent(&secret) {
        return Ok(Key::Secret(if secret.is_string() {
            edge::string("key.secret", &secret)?.into_bytes()
        } else {
            edge::bytes("key.secret", &secret)?
        }));
    }
    let jwk = edge::get(v, "jwk")?;
    if !edge::is_absent(&jwk) {
        return Ok(Key::Jwk(edge::json_text("key.jwk", &jwk)?));
    }
    if !edge::is_absent(&edge::get(v, "keys")?) {
        return Err(type_error(
            "key is a JWKS: use Verifier.fromJwks(jwks, options)",
        ));
    }
    if !edge::is_absent(&edge::get(v, "kty")?) {
        return Ok(Key::Jwk(edge::json_text("key", v)?));
    }
    Err(type_error(
        "key must be a PEM string, a Uint8Array secret, a JWK object, or { pem } / { secret } / { jwk }",
    ))
}

/// The options: `algorithms` (required), `leewayMs` (5000), `allowLargeLeeway`, `issuer`,
/// `audience` (string or list), `maxAgeMs`, `requireExp` (true).
pub(crate) fn options_arg(options: &JsValue) -> Result<VerifyOptions, JsValue> {
    let names = edge::opt_string_list("algorithms", &edge::get(options, "algorithms")?)?;
    let mut algs = Vec::with_capacity(names.len());
    for name in &names {
        algs.push(name.parse::<Algorithm>().map_err(|e| verify_error(&e))?);
    }
    let mut o = VerifyOptions::new(&algs);
    if let Some(l) = edge::opt_uint("leewayMs", &edge::get(options, "leewayMs")?)? {
        o.leeway_ms = l;
    }
    if let Some(b) = edge::opt_bool("allowLargeLeeway", &edge::get(options, "allowLargeLeeway")?)? {
        o.allow_large_leeway = b;
    }
    o.issuer = edge::opt_string("issuer", &edge::get(options, "issuer")?)?;
    o.audience = edge::opt_string_list("audience", &edge::get(options, "audience")?)?;
    o.max_age_ms = edge::opt_uint("maxAgeMs", &edge::get(options, "maxAgeMs")?)?;
    if let Some(b) = edge::opt_bool("requireExp", &edge::get(options, "requireExp")?)? {
        o.require_exp = b;
    }
    Ok(o)
}

/// Verifies JWTs (core `verify::Verifier`): pinned algorithms, keys parsed once, time claims
/// checked with leeway on the verifier's clock. `toString()` never shows key material.
#[wasm_bindgen]
pub struct Verifier {
    inner: verify::Verifier,
    clock: Clock,
    /// Tokens between `prepare` and `finish`/`finishWithCore`/`discard` (a few at most: one
    /// in the synchronous Node path, one per pending WebCrypto check in the async path).
    pending: RefCell<Vec<Pending>>,
    /// The next handle (never reused within 2^32 preparations).
    next_handle: Cell<u32>,
}

/// A prepared token waiting for its signature verdict.
struct Pending {
    handle: u32,
    prepared: Prepared,
    /// The verifier's time, read (or given) when the token was prepared.
    now: UnixMillis,
    /// The token, for `finishWithCore`.
    token: String,
}

/// `preparedInfo` layout: the first candidate key's index (bits 0–7; at most
/// `MAX_JWKS_KEYS` = 100 keys), the algorithm's index in `Algorithm::ALL` (bits 8–11), "more
/// than one candidate" (bit 12), "core checks this signature" (bit 13: HMAC, which the module
/// computes faster than a host call costs, or a candidate key without a host form), the signing
/// input's length (bits 14–31; a token is at most 64 KiB). Mirrored in `npm/verify.js`.
const INFO_ALG_SHIFT: u32 = 8;
const INFO_MORE_KEYS: u32 = 1 << 12;
const INFO_CORE_CHECKS: u32 = 1 << 13;
const INFO_LEN_SHIFT: u32 = 14;

/// HMAC: the module computes it (with the key absorbed once) faster than a call into the
/// host's crypto costs (`createHmac` alone is ~1.5× the whole HMAC in the module).
fn core_checks_alg(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The JSON text of a verified token's JS result `{ alg, kid, claims, iatMs, nbfMs, expMs }`,
/// with the payload's own JSON text as `claims` (parsed once, by `JSON.parse`, on the JS side:
/// members in the token's order). Written by hand: this is on every verification's path.
fn result_json(p: &Prepared) -> String {
    let claims_json = p.claims_json();
    let times = p.times();
    let mut out = String::with_capacity(claims_json.len() + 128);
    out.push_str(r#"{"alg":""#);
    out.push_str(p.alg().as_str());
    out.push_str(r#"","kid":"#);
    match p.kid().and_then(|k| serde_json::to_string(k).ok()) {
        Some(quoted) => out.push_str(&quoted),
        None => out.push_str("null"),
    }
    out.push_str(r#","claims":"#);
    out.push_str(claims_json);
    for (name, ms) in [
        (r#","iatMs":"#, times.iat_ms),
        (r#","nbfMs":"#, times.nbf_ms),
        (r#","expMs":"#, times.exp_ms),
    ] {
        out.push_str(name);
        push_ms(&mut out, ms);
    }
    out.push('}');
    out
}

/// A time claim in ms (core keeps them in `0..=MAX_UNIX_MILLIS`) or `null`.
fn push_ms(out: &mut String, ms: Option<i64>) {
    let Some(ms) = ms else {
        out.push_str("null");
        return;
    };
    let mut digits = [0u8; 20];
    let mut n = ms.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + u8::try_from(n % 10).unwrap_or(0);
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    if ms < 0 {
        out.push('-');
    }
    out.extend(
        digits
            .get(i..)
            .unwrap_or_default()
            .iter()
            .map(|&d| char::from(d)),
    );
}

/// A token the JS side encoded as UTF-8 (`Buffer.from(token)`, `TextEncoder`): taken over
/// without a copy. Bytes that are not UTF-8 are core's token error.
fn utf8_token(bytes: Vec<u8>) -> Result<String, JsValue> {
    String::from_utf8(bytes).map_err(|e| {
        let err = verify::token_text(e.as_bytes())
            .err()
            .unwrap_or(verify::TOKEN_NOT_A_STRING);
        verify_error(&err)
    })
}

/// The `token` argument: a string (lone surrogates become U+FFFD, which core refuses like any
/// non-base64url character); anything else is core's `malformed_token` (`not_a_string`), a
/// token error with a stable code, never a `TypeError`: a handler answers it with 401.
fn token_arg(v: &JsValue) -> Result<String, JsValue> {
    if !v.is_string() {
        return Err(verify_error(&verify::TOKEN_NOT_A_STRING));
    }
    edge::string("token", v)
}

/// A JWKS document: an object (serialised), its JSON text, or that text's UTF-8 bytes.
fn jwks_text(v: &JsValue) -> Result<String, JsValue> {
    if edge::is_bytes(v) {
        return String::from_utf8(edge::bytes("jwks", v)?)
            .map_err(|_| type_error("jwks bytes are not UTF-8"));
    }
    edge::json_text("jwks", v)
}

impl Verifier {
    /// A verifier around core keys parsed elsewhere (a `KeySet`'s keys in use), reading
    /// `clock` when a call gives no time.
    pub(crate) fn from_core(inner: verify::Verifier, clock: Clock) -> Verifier {
        Verifier {
            inner,
            clock,
            pending: RefCell::new(Vec::new()),
            next_handle: Cell::new(0),
        }
    }

    fn build(key: Key, options: &JsValue) -> Result<Verifier, JsValue> {
        let opts = options_arg(options)?;
        let clock = Clock::from_option(&edge::get(options, "clock")?)?;
        let inner = verify::Verifier::new(key.source(), opts).map_err(|e| verify_error(&e))?;
        Ok(Verifier {
            inner,
            clock,
            pending: RefCell::new(Vec::new()),
            next_handle: Cell::new(0),
        })
    }

    /// All of core's verification, signature included; the result as `result_json` text.
    fn verify_text(&self, token: &str, now: UnixMillis) -> Result<String, JsValue> {
        let p = self.inner.prepare(token).map_err(|e| verify_error(&e))?;
        self.conclude_with_core(&p, token, now)
    }

    /// Core's signature check, then the checks after it.
    fn conclude_with_core(
        &self,
        p: &Prepared,
        token: &str,
        now: UnixMillis,
    ) -> Result<String, JsValue> {
        self.inner
            .check_signature(p, token)
            .and_then(|()| self.inner.decide(p, SignatureCheck::Valid, now))
            .map_err(|e| verify_error(&e))?;
        Ok(result_json(p))
    }

    /// `nowMs` if given (a fraction is floored by core: a sub-millisecond `now` never
    /// reaches `nbf`/`iat` early), else the verifier's clock.
    fn now(&self, now_ms: &JsValue) -> Result<UnixMillis, JsValue> {
        if edge::is_absent(now_ms) {
            return Ok(self.clock.read()?.wall);
        }
        let ms = edge::float("nowMs", now_ms)?;
        let floored = UnixMillis::floor_from_millis_f64(ms).map_or(f64::NAN, |t| t.0 as f64);
        // The usual checks (and messages) of a whole, non-negative, safe integer.
        edge::uint(
            "nowMs",
            &JsValue::from_f64(if ms < 0.0 { ms } else { floored }),
        )
        .map(UnixMillis)
    }

    fn prepare_owned(&self, token: String, now_ms: &JsValue) -> Result<u32, JsValue> {
        let now = self.now(now_ms)?;
        let prepared = self.inner.prepare(&token).map_err(|e| verify_error(&e))?;
        let handle = self.next_handle.get();
        self.next_handle.set(handle.wrapping_add(1));
        self.pending.borrow_mut().push(Pending {
            handle,
            prepared,
            now,
            token,
        });
        Ok(handle)
    }

    /// Runs `f` on the prepared token `handle`; a stale handle is a `TypeError`.
    fn with_pending<T>(&self, handle: u32, f: impl FnOnce(&Pending) -> T) -> Result<T, JsValue> {
        let pending = self.pending.borrow();
        let p = pending
            .iter()
            .find(|p| p.handle == handle)
            .ok_or_else(|| type_error("no prepared token with this handle"))?;
        Ok(f(p))
    }

    /// Removes and returns the prepared token `handle`; a stale handle is a `TypeError`.
    fn take_pending(&self, handle: u32) -> Result<Pending, JsValue> {
        let mut pending = self.pending.borrow_mut();
        let i = pending
            .iter()
            .position(|p| p.handle == handle)
            .ok_or_else(|| type_error("no prepared token with this handle"))?;
        Ok(pending.swap_remove(i))
    }
}

#[wasm_bindgen]
impl Verifier {
    /// `new Verifier({ key, algorithms, leewayMs?, allowLargeLeeway?, issuer?, audience?,
    /// maxAgeMs?, requireExp?, clock? })`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Verifier, JsValue> {
        if !options.is_object() {
            return Err(type_error("options must be an object"));
        }
        let key = key_arg(&edge::get(&options, "key")?)?;
        Verifier::build(key, &options)
    }

    /// `Verifier.fromJwks(jwks, options)`: keys from a JWKS document (an object or its JSON
    /// text); unusable keys are skipped, tokens pick theirs by `kid`.
    #[wasm_bindgen(js_name = fromJwks)]
    pub fn from_jwks(jwks: JsValue, options: JsValue) -> Result<Verifier, JsValue> {
        if !options.is_object() {
            return Err(type_error("options must be an object"));
        }
        let text = jwks_text(&jwks)?;
        Verifier::build(Key::Jwks(text), &options)
    }

    /// Verifies `token` (the bare compact JWS) at `nowMs` (default: the verifier's clock),
    /// signature by core. Returns `{ alg, kid, claims, iatMs, nbfMs, expMs }`; throws
    /// `TokenClockError` (`expired` with `.byMs` and `.likelyClockSkew`, `invalid_signature`,
    /// ...).
    pub fn verify(&self, token: JsValue, now_ms: JsValue) -> Result<JsValue, JsValue> {
        let token = token_arg(&token)?;
        let now = self.now(&now_ms)?;
        js_sys::JSON::parse(&self.verify_text(&token, now)?)
    }

    /// `verify` for a token the caller encoded as UTF-8 (one bulk copy instead of
    /// wasm-bindgen's per-character string transfer, which cost more than parsing the token);
    /// returns the result's JSON text.
    #[wasm_bindgen(js_name = verifyUtf8)]
    pub fn verify_utf8(&self, token: Vec<u8>, now_ms: JsValue) -> Result<String, JsValue> {
        let token = utf8_token(token)?;
        let now = self.now(&now_ms)?;
        self.verify_text(&token, now)
    }

    /// Core's checks before the signature (`Verifier::prepare`) for `token` at `nowMs`
    /// (default: the verifier's clock, read now). Returns a handle for `preparedInfo`,
    /// `preparedKeys`, `preparedSignature` and then `finish`, `finishWithCore` or `discard`;
    /// throws what `verify` throws for a token that fails before its signature.
    pub fn prepare(&self, token: JsValue, now_ms: JsValue) -> Result<u32, JsValue> {
        let token = token_arg(&token)?;
        self.prepare_owned(token, &now_ms)
    }

    /// `prepare` for a token the caller encoded as UTF-8 (see `verifyUtf8`).
    #[wasm_bindgen(js_name = prepareUtf8)]
    pub fn prepare_utf8(&self, token: Vec<u8>, now_ms: JsValue) -> Result<u32, JsValue> {
        let token = utf8_token(token)?;
        self.prepare_owned(token, &now_ms)
    }

    /// What to check for the prepared token `handle`, packed (layout: `INFO_*` above).
    #[wasm_bindgen(js_name = preparedInfo)]
    pub fn prepared_info(&self, handle: u32) -> Result<u32, JsValue> {
        self.with_pending(handle, |pending| {
            let p = &pending.prepared;
            let keys = p.key_indices();
            let first = keys.first().copied().unwrap_or(0);
            let alg = Algorithm::ALL
                .iter()
                .position(|a| *a == p.alg())
                .unwrap_or(0);
            let more = if keys.len() > 1 { INFO_MORE_KEYS } else { 0 };
            let core_checks = if core_checks_alg(p.alg())
                || keys.iter().any(|&i| self.inner.host_key(i).is_none())
            {
                INFO_CORE_CHECKS
            } else {
                0
            };
            let len = p.signing_input().end;
            u32::try_from(first & 0xff).unwrap_or(0)
                | (u32::try_from(alg).unwrap_or(0) << INFO_ALG_SHIFT)
                | more
                | core_checks
                | (u32::try_from(len).unwrap_or(0) << INFO_LEN_SHIFT)
        })
    }

    /// Every candidate key index of the prepared token `handle`, in the order to try.
    #[wasm_bindgen(js_name = preparedKeys)]
    pub fn prepared_keys(&self, handle: u32) -> Result<Vec<u32>, JsValue> {
        self.with_pending(handle, |p| {
            p.prepared
                .key_indices()
                .iter()
                .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect()
        })
    }

    /// The decoded signature of the prepared token `handle` (JOSE form: ECDSA is `r ‖ s`).
    #[wasm_bindgen(js_name = preparedSignature)]
    pub fn prepared_signature(&self, handle: u32) -> Result<Vec<u8>, JsValue> {
        self.with_pending(handle, |p| p.prepared.signature().to_vec())
    }

    /// Core's checks after the signature (`Verifier::decide`) for the prepared token `handle`,
    /// given whether the host's check of its signature passed (`valid` exactly `true`).
    /// Returns the JSON text of `verify`'s result; throws `invalid_signature` when the check
    /// failed, or what `verify` throws. The handle is used up either way.
    pub fn finish(&self, handle: u32, valid: JsValue) -> Result<String, JsValue> {
        let pending = self.take_pending(handle)?;
        let check = if valid.as_bool() == Some(true) {
            SignatureCheck::Valid
        } else {
            SignatureCheck::Invalid
        };
        self.inner
            .decide(&pending.prepared, check, pending.now)
            .map_err(|e| verify_error(&e))?;
        Ok(result_json(&pending.prepared))
    }

    /// `finish` with core checking the signature itself (what `verify` does). The handle is
    /// used up either way.
    #[wasm_bindgen(js_name = finishWithCore)]
    pub fn finish_with_core(&self, handle: u32) -> Result<String, JsValue> {
        let pending = self.take_pending(handle)?;
        self.conclude_with_core(&pending.prepared, &pending.token, pending.now)
    }

    /// Drops the prepared token `handle` without finishing it (no-op for an unknown handle).
    pub fn discard(&self, handle: u32) {
        let _ = self.take_pending(handle);
    }

    /// One entry per key index: the public key as a JWK for the host's crypto to import, or
    /// `null` for a key only core checks (HMAC secrets never leave the module: core checks
    /// HMAC).
    #[wasm_bindgen(js_name = hostKeys)]
    pub fn host_keys(&self) -> Result<js_sys::Array, JsValue> {
        let out = js_sys::Array::new();
        for i in 0..self.inner.key_count() {
            out.push(&match self.inner.host_key(i) {
                Some(HostKey::Secret(_)) | None => JsValue::NULL,
                Some(k) => edge::json_js(&k.jwk())?,
            });
        }
        Ok(out)
    }

    /// Whether core checks the signature of every token this verifier accepts (every pinned
    /// algorithm is HMAC): then `verifyUtf8` is the whole path.
    #[wasm_bindgen(getter = coreChecksAll)]
    pub fn core_checks_all(&self) -> bool {
        self.inner.algorithms().iter().all(|a| core_checks_alg(*a))
    }

    /// The JOSE names in the order of `preparedInfo`'s algorithm index.
    #[wasm_bindgen(js_name = algorithmNames)]
    pub fn algorithm_names() -> Vec<String> {
        Algorithm::ALL
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect()
    }

    /// The pinned algorithms.
    #[wasm_bindgen(getter)]
    pub fn algorithms(&self) -> Vec<String> {
        self.inner
            .algorithms()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect()
    }

    /// The `kid`s of the usable keys.
    #[wasm_bindgen(getter)]
    pub fn kids(&self) -> Vec<String> {
        self.inner.kids().into_iter().map(str::to_owned).collect()
    }

    /// Number of usable keys.
    #[wasm_bindgen(getter = keyCount)]
    pub fn key_count(&self) -> u32 {
        u32::try_from(self.inner.key_count()).unwrap_or(u32::MAX)
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        format!("{:?}", self.inner)
    }
}

//! The resource-server side (core `verify`, full build only): `Verifier`.

use tokenclock::time::UnixMillis;
use tokenclock::verify::{self, Algorithm, KeySource, VerifyOptions};
use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::{type_error, verify_error};
use crate::host::Clock;

/// Key material as handed to core (owned here, borrowed by `KeySource`).
enum Key {
    Secret(Vec<u8>),
    Pem(String),
    Jwk(String),
    Jwks(String),
}

impl Key {
    fn source(&self) -> KeySource<'_> {
        match self {
            Key::Secret(b) => KeySource::Secret(b),
            Key::Pem(p) => KeySource::Pem(p.as_bytes()),
            Key::Jwk(j) => KeySource::Jwk(j),
            Key::Jwks(j) => KeySource::Jwks(j),
        }
    }
}

/// `key`: a PEM string; a `Uint8Array` HMAC secret; a JWK object (`{ kty, ... }`); or, spelled
/// out, `{ pem }`, `{ secret: Uint8Array | string }`, `{ jwk: object | string }`. A plain string
/// is always PEM, never an HMAC secret (no guessing between the two).
fn key_arg(v: &JsValue) -> Result<Key, JsValue> {
    if v.is_string() {
        return Ok(Key::Pem(edge::string("key", v)?));
    }
    if edge::is_bytes(v) {
        return Ok(Key::Secret(edge::bytes("key", v)?));
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
fn options_arg(options: &JsValue) -> Result<VerifyOptions, JsValue> {
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
}

impl Verifier {
    fn build(key: Key, options: &JsValue) -> Result<Verifier, JsValue> {
        let opts = options_arg(options)?;
        let clock = Clock::from_option(&edge::get(options, "clock")?)?;
        let inner = verify::Verifier::new(key.source(), opts).map_err(|e| verify_error(&e))?;
        Ok(Verifier { inner, clock })
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
        let text = edge::json_text("jwks", &jwks)?;
        Verifier::build(Key::Jwks(text), &options)
    }

    /// Verifies `token` (the bare compact JWS) at `nowMs` (default: the verifier's clock).
    /// Returns `{ alg, kid, claims, iatMs, nbfMs, expMs }`; throws `TokenClockError`
    /// (`expired` with `.byMs` and `.likelyClockSkew`, `invalid_signature`, ...).
    pub fn verify(&self, token: JsValue, now_ms: JsValue) -> Result<JsValue, JsValue> {
        let token = edge::string("token", &token)?;
        let now = self.clock.wall_or_now("nowMs", &now_ms)?;
        let v = self
            .inner
            .verify(&token, UnixMillis(now))
            .map_err(|e| verify_error(&e))?;
        Ok(Out::new()
            .str("alg", v.alg.as_str())
            .opt_str("kid", v.kid.as_deref())
            .set("claims", edge::json_js(&v.claims)?)
            .opt_num("iatMs", v.times.iat_ms)
            .opt_num("nbfMs", v.times.nbf_ms)
            .opt_num("expMs", v.times.exp_ms)
            .build())
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

//! Target `jwks`: `Verifier::new` with `KeySource::Jwk` / `KeySource::Jwks` (key documents
//! from the input), then `verify` of fixed tokens signed by every test key.
//!
//! Input: `selector` (1 byte: bit 0 — `Jwk` (1) or `Jwks` (0); bits 1..: which algorithms are
//! pinned, `(selector >> 1) % 6`: all twelve, HMAC, RSA PKCS#1 v1.5, RSA-PSS, ECDSA, EdDSA),
//! then the JSON text (UTF-8, lossy). Binding call: Python `tokenclock.Verifier(jwks=text,
//! algorithms=...)` / `Verifier(jwk=text, ...)`, JS `new Verifier({ jwks: text, ... })`.
//!
//! Invariants: no panic; errors are snake_case and never echo the document; a verifier has
//! at least one key; verifying fixed tokens against it never panics and only ever succeeds
//! with a pinned algorithm.

use super::keys::{self, Family};
use serde_json::{json, Value};
use std::sync::OnceLock;
use tokenclock::time::UnixMillis;
use tokenclock::verify::{Algorithm, KeySource, Verifier, VerifyOptions};

/// Tokens signed by every test key (with and without `kid`), valid at `NOW`.
pub fn tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let mut out = Vec::new();
        let b64 = |s: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
        };
        let payload = b64(r#"{"iat":1700000000,"exp":1700003600}"#);
        for (kid, family) in [
            ("hs-1", Family::Hmac),
            ("rsa-1", Family::Rsa),
            ("p256-1", Family::P256),
            ("p384-1", Family::P384),
            ("ed-1", Family::Ed25519),
        ] {
            let alg = family.default_alg();
            for header in [
                format!(r#"{{"alg":"{}","kid":"{kid}"}}"#, alg.as_str()),
                format!(r#"{{"alg":"{}"}}"#, alg.as_str()),
            ] {
                let message = format!("{}.{payload}", b64(&header));
                if let Some(sig) = keys::sign(&message, family, alg) {
                    out.push(format!("{message}.{sig}"));
                }
            }
        }
        out
    })
}

pub const NOW: i64 = 1_700_000_100_000;

pub fn run(data: &[u8]) {
    let mut b = super::Bytes(data);
    let selector = b.u8();
    let text = String::from_utf8_lossy(b.rest());
    use Algorithm::*;
    let algs: Vec<Algorithm> = match (selector >> 1) % 6 {
        0 => Algorithm::ALL.to_vec(),
        1 => vec![HS256, HS384, HS512],
        2 => vec![RS256, RS384, RS512],
        3 => vec![PS256, PS384, PS512],
        4 => vec![ES256, ES384],
        _ => vec![EdDSA],
    };
    let source = if selector & 1 != 0 {
        KeySource::Jwk(&text)
    } else {
        KeySource::Jwks(&text)
    };
    let trace = |expect: Value| {
        super::trace::op(|| {
            json!({
                "op": "jwks",
                "source": if selector & 1 != 0 { "jwk" } else { "jwks" },
                "text": text,
                "algorithms": algs.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "expect": expect,
            })
        })
    };
    let verifier = match Verifier::new(source, VerifyOptions::new(&algs)) {
        Ok(v) => v,
        Err(e) => {
            trace(json!({"error": tokenclock::ErrorCode::code(&e)}));
            super::check_error(&e, &text);
            return;
        }
    };
    assert!(verifier.key_count() >= 1, "a verifier without keys");
    let _ = format!("{verifier:?}");
    let mut outcomes = Vec::new();
    for token in tokens() {
        match verifier.verify(token, UnixMillis(NOW)) {
            Ok(v) => {
                assert!(algs.contains(&v.alg));
                outcomes.push(json!({"alg": v.alg.as_str()}));
            }
            Err(e) => {
                super::assert_code(tokenclock::ErrorCode::code(&e));
                outcomes.push(json!({"error": tokenclock::ErrorCode::code(&e)}));
            }
        }
    }
    trace(json!({"keys": verifier.key_count(), "verify": outcomes}));
}

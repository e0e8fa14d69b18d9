//! Target `verify`: `Verifier::verify(token, now)` with fixed keys of every type.
//!
//! Input: `key` (1 byte: setup `key % 11` of [`super::keys::setup`]: HMAC secret, RSA PEM,
//! P-256 PEM, P-384 PEM, Ed25519 PEM, the JWKS, or one JWK of each kind), `flags` (1 byte),
//! `now_ms` (i64 LE), `leeway_ms` (i64 LE), `max_age_ms` (i64 LE), then the token (UTF-8,
//! lossy). Flags: bit 0 — re-sign: replace the token's signature with a valid one over its
//! first two segments, made with the setup's private key (the JWKS: the key named by the
//! header's `kid`, else the one of the header's `alg`) under the header's `alg` when that key
//! can make it, so mutated claims reach the claim checks; bit 1 — expect `iss`
//! `https://issuer.example`; bit 2 — expect `aud` `api://resource`; bit 3 — `require_exp =
//! false`; bit 4 — set `max_age_ms`; bit 5 — `allow_large_leeway`.
//! Binding call: Python `tokenclock.Verifier(key=..., algorithms=..., leeway=...).verify(token,
//! now=...)`, JS `new Verifier({...}).verify(token, nowMs)`.
//!
//! Invariants: no panic; codes snake_case, messages never echo the token; a verified token
//! used a pinned algorithm, passes the correctly-signed time rules at `now` with the leeway
//! (not expired, not before `nbf`/`iat`, not too old), and its times equal `peek`'s.

use super::keys::{self, Family};
use serde_json::{json, Value};
use tokenclock::peek::peek;
use tokenclock::rules::{is_expired, is_issued_in_future, is_not_yet_valid};
use tokenclock::time::UnixMillis;
use tokenclock::verify::{Algorithm, Verifier, VerifyOptions};

pub fn run(data: &[u8]) {
    let mut b = super::Bytes(data);
    let key = b.u8();
    let flags = b.u8();
    let now = b.i64();
    let leeway = b.i64();
    let max_age = b.i64();
    let mut token = String::from_utf8_lossy(b.rest()).into_owned();

    let secret = keys::hmac_secret();
    let (source, algs, family) = keys::setup(key, &secret);
    let mut options = VerifyOptions::new(&algs);
    options.leeway_ms = leeway;
    if flags & 2 != 0 {
        options.issuer = Some("https://issuer.example".to_owned());
    }
    if flags & 4 != 0 {
        options.audience = vec!["api://resource".to_owned()];
    }
    options.require_exp = flags & 8 == 0;
    if flags & 16 != 0 {
        options.max_age_ms = Some(max_age);
    }
    options.allow_large_leeway = flags & 32 != 0;

    if flags & 1 != 0 {
        if let Some(signed) = resign(&token, family) {
            token = signed;
        }
    }

    let trace = |expect: Value| {
        super::trace::op(|| {
            let (form, file) = keys::setup_file(key);
            json!({
                "op": "verify",
                "key": {"form": form, "file": file},
                "algorithms": algs.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "leeway_ms": options.leeway_ms,
                "issuer": options.issuer,
                "audience": options.audience.first(),
                "require_exp": options.require_exp,
                "max_age_ms": options.max_age_ms,
                "allow_large_leeway": options.allow_large_leeway,
                "now_ms": now,
                "token": token,
                "expect": expect,
            })
        })
    };
    let verifier = match Verifier::new(source, options.clone()) {
        Ok(v) => v,
        Err(e) => {
            trace(json!({"config_error": tokenclock::ErrorCode::code(&e)}));
            // Only the options can be wrong: the keys are good.
            super::assert_code(tokenclock::ErrorCode::code(&e));
            assert!(
                matches!(
                    tokenclock::ErrorCode::code(&e),
                    "invalid_config" | "leeway_too_large"
                ),
                "fixed key refused: {e}"
            );
            return;
        }
    };
    let result = verifier.verify(&token, UnixMillis(now));
    trace(match &result {
        Ok(v) => json!({"alg": v.alg.as_str(), "iat_ms": v.times.iat_ms, "nbf_ms": v.times.nbf_ms,
            "exp_ms": v.times.exp_ms}),
        Err(e) => json!({"error": tokenclock::ErrorCode::code(e)}),
    });
    match result {
        Ok(v) => {
            assert!(algs.contains(&v.alg), "unpinned algorithm {:?}", v.alg);
            let t = v.times;
            let l = options.leeway_ms;
            if let Some(exp) = t.exp_ms {
                assert!(!is_expired(now, exp, l), "accepted an expired token");
            } else {
                assert!(!options.require_exp, "accepted a token without exp");
            }
            if let Some(nbf) = t.nbf_ms {
                assert!(
                    !is_not_yet_valid(now, nbf, l),
                    "accepted a token before nbf"
                );
            }
            if let Some(iat) = t.iat_ms {
                assert!(
                    !is_issued_in_future(now, iat, l),
                    "accepted a token issued in the future"
                );
                if let Some(max_age) = options.max_age_ms {
                    assert!(
                        !is_expired(now, iat.saturating_add(max_age), l),
                        "accepted a too old token"
                    );
                }
            }
            let p = peek(&token).expect("a verified token peeks");
            assert_eq!(p.times, t, "verify and peek disagree on the times");
        }
        Err(e) => super::check_error(&e, &token),
    }
}

/// The token with a valid signature of its first two segments, when a key of `family` (or,
/// for the JWKS, the family named by `kid`/`alg`) can make one under the header's `alg`.
fn resign(token: &str, family: Option<Family>) -> Option<String> {
    let p = peek(token).ok()?;
    let alg = p.alg.as_deref().and_then(Algorithm::from_name);
    let family = match family {
        Some(f) => f,
        None => p
            .kid
            .as_deref()
            .and_then(Family::of_kid)
            .or_else(|| alg.map(Family::of))?,
    };
    let alg = alg
        .filter(|a| Family::of(*a) == family)
        .unwrap_or_else(|| family.default_alg());
    let (message, _) = token.trim_ascii().rsplit_once('.')?;
    let sig = keys::sign(message, family, alg)?;
    Some(format!("{message}.{sig}"))
}

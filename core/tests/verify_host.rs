//! `Verifier::prepare` / `check_signature` / `decide` / `finish` (the path a host with its own
//! crypto takes) against `Verifier::verify`, on every case of `tests/vectors/verify/verify.json`:
//! the same result or the same error, whatever the host reports when core refused the token
//! before the signature, `invalid_signature` whenever the host reports a failed check, and the
//! keys handed to hosts (`host_key`) are the verifier's keys.
//!
//! `cargo test -p tokenclock --features verify --test verify_host`
#![cfg(feature = "verify")]

mod common;

use serde_json::{Map, Value};
use tokenclock::time::UnixMillis;
use tokenclock::verify::{
    Algorithm, HostKey, KeySource, Prepared, SignatureCheck, Verified, Verifier, VerifyError,
    VerifyOptions,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn options(input: &Value) -> Result<VerifyOptions, VerifyError> {
    let mut algs = Vec::new();
    for name in input["algorithms"].as_array().expect("algorithms") {
        algs.push(name.as_str().expect("name").parse::<Algorithm>()?);
    }
    let mut o = VerifyOptions::new(&algs);
    if let Some(l) = common::opt_int(input, "leeway_ms") {
        o.leeway_ms = l;
    }
    o.allow_large_leeway = input
        .get("allow_large_leeway")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    o.issuer = input
        .get("issuer")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(a) = input.get("audience").and_then(Value::as_array) {
        o.audience = a
            .iter()
            .map(|v| v.as_str().expect("aud").to_owned())
            .collect();
    }
    o.max_age_ms = common::opt_int(input, "max_age_ms");
    if let Some(b) = input.get("require_exp").and_then(Value::as_bool) {
        o.require_exp = b;
    }
    Ok(o)
}

fn verifier(input: &Value) -> Result<Verifier, VerifyError> {
    let opts = options(input)?;
    let key = &input["key"];
    match key["kind"].as_str().expect("kind") {
        "secret" => Verifier::new(
            KeySource::Secret(&hex(key["hex"].as_str().expect("hex"))),
            opts,
        ),
        "pem" => Verifier::new(
            KeySource::Pem(key["pem"].as_str().expect("pem").as_bytes()),
            opts,
        ),
        "jwk" => Verifier::new(KeySource::Jwk(&key["jwk"].to_string()), opts),
        _ => {
            let text = match key.get("text").and_then(Value::as_str) {
                Some(t) => t.to_owned(),
                None => key["jwks"].to_string(),
            };
            Verifier::new(KeySource::Jwks(&text), opts)
        }
    }
}

/// The host path with core standing in for the host's crypto.
fn split(v: &Verifier, token: &str, now: UnixMillis) -> Result<Verified, VerifyError> {
    let p = v.prepare(token)?;
    v.check_signature(&p, token)?;
    v.finish(p, SignatureCheck::Valid, now)
}

fn check(case: &common::Case) -> Result<(), String> {
    let input = &case.input;
    let Ok(v) = verifier(input) else {
        return Ok(()); // a configuration error: no token is looked at
    };
    let token = input["token"].as_str().ok_or("token")?;
    let now = UnixMillis(common::int(input, "now_ms"));
    let whole = v.verify(token, now);
    if split(&v, token, now) != whole {
        return Err(format!(
            "split path {:?} != verify {whole:?}",
            split(&v, token, now)
        ));
    }
    let prepared = match v.prepare(token) {
        Ok(p) => p,
        Err(e) => {
            // Refused before the signature: exactly verify's error, whatever a host would say.
            return (Err(e) == whole)
                .then_some(())
                .ok_or_else(|| format!("prepare error differs from verify {whole:?}"));
        }
    };
    check_prepared(&v, &prepared, token)?;
    // A host that reports a failed check gets invalid_signature, never a verified token.
    let failed = v.finish(prepared.clone(), SignatureCheck::Invalid, now);
    if failed != Err(VerifyError::InvalidSignature) {
        return Err(format!("Invalid check gave {failed:?}"));
    }
    // `decide` is `finish` without building the result.
    let decided = v.decide(&prepared, SignatureCheck::Valid, now);
    let finished = v.finish(prepared.clone(), SignatureCheck::Valid, now);
    if decided.clone().err() != finished.clone().err() {
        return Err(format!("decide {decided:?} != finish {finished:?}"));
    }
    if let Ok(done) = &finished {
        let parsed: Map<String, Value> =
            serde_json::from_str(&done.claims_json).map_err(|e| e.to_string())?;
        if parsed != done.claims || done.claims_json != prepared.claims_json() {
            return Err("claims_json is not the claims' text".into());
        }
        if done.times != prepared.times() || done.kid.as_deref() != prepared.kid() {
            return Err("prepared times/kid differ from the result".into());
        }
    }
    // Another token (even one core would accept) is not checked against this preparation.
    if v.check_signature(&prepared, &format!("{token}x")) != Err(VerifyError::InvalidSignature) {
        return Err("check_signature took a different token".into());
    }
    Ok(())
}

/// The prepared parts agree with the token, and each candidate's host key is the verifier's key.
fn check_prepared(v: &Verifier, p: &Prepared, token: &str) -> Result<(), String> {
    let input = token
        .get(p.signing_input())
        .ok_or("signing input out of range")?;
    if token.get(p.signing_input().end..p.signing_input().end + 1) != Some(".")
        || input.matches('.').count() != 1
    {
        return Err(format!("signing input {:?}", p.signing_input()));
    }
    let sig = token.rsplit('.').next().unwrap_or_default();
    if base64url(p.signature()) != sig {
        return Err("signature bytes are not the token's".into());
    }
    if p.key_indices().is_empty() {
        return Err("no candidate key".into());
    }
    for &i in p.key_indices() {
        let key = v.host_key(i).ok_or("a vector key has no host form")?;
        let kty = key.jwk()["kty"].as_str().unwrap_or_default().to_owned();
        let want = match p.alg() {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "oct",
            Algorithm::ES256 | Algorithm::ES384 => "EC",
            Algorithm::EdDSA => "OKP",
            _ => "RSA",
        };
        if kty != want {
            return Err(format!("{} key handed to the host for {}", kty, p.alg()));
        }
        // The JWK is the same key: a verifier built from it gives the same answer.
        let mut jwk = key.jwk();
        jwk.insert("alg".into(), p.alg().as_str().into());
        let same = Verifier::new(
            KeySource::Jwk(&Value::Object(jwk).to_string()),
            VerifyOptions::new(&[p.alg()]),
        )
        .map_err(|e| format!("host JWK refused: {e}"))?;
        let q = same.prepare(token).map_err(|e| e.to_string())?;
        let mine = v.check_signature(p, token);
        if p.key_indices().len() == 1 && same.check_signature(&q, token) != mine {
            return Err(format!("host JWK checks differently ({mine:?})"));
        }
    }
    if v.host_key(v.key_count()).is_some() {
        return Err("host_key past the last key".into());
    }
    Ok(())
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[test]
fn split_path_answers_what_verify_answers() {
    let n = common::run("verify/verify.json", check);
    assert!(n >= 60, "only {n} cases");
}

#[test]
fn host_keys_hold_no_surprises() {
    let secret = [7u8; 40];
    let v = Verifier::new(
        KeySource::Secret(&secret),
        VerifyOptions::new(&[Algorithm::HS256]),
    )
    .expect("verifier");
    let key = v.host_key(0).expect("host key");
    assert_eq!(key, &HostKey::Secret(secret.to_vec()));
    assert_eq!(format!("{key:?}"), "HostKey::Secret(<40 bytes>)");
    let jwk = key.jwk();
    assert_eq!(jwk["kty"], "oct");
    assert_eq!(jwk.len(), 2, "no alg/use/key_ops: {jwk:?}");
    // Debug of a prepared token shows neither claims nor signature.
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDAsInNlY3JldCI6Imh1bnRlcjIifQ.AAAA";
    let p = v.prepare(token).expect("prepare");
    let shown = format!("{p:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("AAAA"),
        "{shown}"
    );
}

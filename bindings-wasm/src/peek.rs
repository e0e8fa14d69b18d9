//! `peek(token)`: a JWT's header and claims **without verification** (core `peek::peek`).

use wasm_bindgen::prelude::*;

use crate::edge::{self, Out};
use crate::errors::peek_error;

/// Reads a JWT's header and claims without verifying its signature (core `peek::peek`: the
/// same framing, base64url, JSON, duplicate and claim-type rules as the verifier). Returns
/// `{ alg, kid, typ, iss, sub, aud, jti, iatMs, nbfMs, expMs, signatureLength, header, claims }`
/// (`null` for absent values, `aud` always a list). Never make an authorization decision from it.
#[wasm_bindgen]
pub fn peek(token: JsValue) -> Result<JsValue, JsValue> {
    let token = edge::string("token", &token)?;
    let p = tokenclock::peek::peek(&token).map_err(|e| peek_error(&e))?;
    let aud = js_sys::Array::new();
    for a in &p.aud {
        aud.push(&JsValue::from_str(a));
    }
    Ok(Out::new()
        .opt_str("alg", p.alg.as_deref())
        .opt_str("kid", p.kid.as_deref())
        .opt_str("typ", p.typ.as_deref())
        .opt_str("iss", p.iss.as_deref())
        .opt_str("sub", p.sub.as_deref())
        .set("aud", aud)
        .opt_str("jti", p.jti.as_deref())
        .opt_num("iatMs", p.times.iat_ms)
        .opt_num("nbfMs", p.times.nbf_ms)
        .opt_num("expMs", p.times.exp_ms)
        .num(
            "signatureLength",
            i64::try_from(p.signature_len).unwrap_or(i64::MAX),
        )
        .set("header", edge::json_js(&p.header)?)
        .set("claims", edge::json_js(&p.claims)?)
        .build())
}

//! Verification with the signature checked by the host's crypto.
//!
//! A host with fast native crypto (Node's `node:crypto`, WebCrypto in browsers, Deno, Bun and
//! Workers) can check the one signature itself while core keeps every decision:
//!
//! 1. [`Verifier::prepare`] runs the checks before the signature — size, bare compact form,
//!    parsing, `alg` pinned, no `crit`, key selection (`kid`) and key/algorithm fit — with the
//!    same code and in the same order as [`Verifier::verify`], and answers a [`Prepared`]: the
//!    pinned [`Algorithm`], the candidate keys, the signing input and the signature bytes.
//! 2. The host verifies [`Prepared::signature`] over the signing input with **exactly**
//!    [`Prepared::alg`] and one of [`Prepared::key_indices`] (imported once per key from
//!    [`Verifier::host_key`]), trying the candidates in order until one verifies.
//! 3. [`Verifier::finish`] takes the host's [`SignatureCheck`] and runs the checks after the
//!    signature (required claims, `iss`, `aud`, time), returning what `verify` returns.
//!
//! [`Verifier::verify`] itself is `prepare`, core's own signature check, `finish`: one path.
//!
//! # The host's side of the contract
//!
//! | `alg` | check |
//! |---|---|
//! | HS256/384/512 | HMAC with SHA-256/384/512 over the signing input, compared with the signature in constant time (lengths differ: invalid) |
//! | RS256/384/512 | RSASSA-PKCS1-v1_5 with SHA-256/384/512 |
//! | PS256/384/512 | RSASSA-PSS with SHA-256/384/512, MGF1 with the same hash, salt length = the hash length (32/48/64 bytes) |
//! | ES256 / ES384 | ECDSA on P-256 with SHA-256 / on P-384 with SHA-384; the signature is the JOSE form `r ‖ s` (IEEE P1363, 64 / 96 bytes), not DER |
//! | EdDSA | Ed25519 (pure, no pre-hash) |
//!
//! Anything that goes wrong in the host's crypto (an exception, an unsupported algorithm at
//! verification time) is [`SignatureCheck::Invalid`], never `Valid`. A key the host cannot
//! import at all (or one [`Verifier::host_key`] does not offer) is checked by core instead:
//! call [`Verifier::verify`] for tokens that select it.
//!
//! `finish` believes the host: [`SignatureCheck::Valid`] without a check is a forged token
//! accepted. Most callers want [`Verifier::verify`].

use core::fmt;
use core::ops::Range;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::keys::KeyEntry;
use super::{check_times, from_peek, verify_with, Algorithm, Verified, Verifier, VerifyError};
use crate::peek::{self, Members, Object, PeekError, Segment, TimeClaims, MAX_TOKEN_BYTES};
use crate::time::UnixMillis;

/// The outcome of the host's signature check, handed to [`Verifier::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureCheck {
    /// The signature verified under [`Prepared::alg`] with one of [`Prepared::key_indices`].
    Valid,
    /// It did not verify under any candidate key, or the host's crypto failed.
    Invalid,
}

/// An elliptic curve of a [`HostKey::Ec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (ES256).
    P256,
    /// NIST P-384 (ES384).
    P384,
}

impl Curve {
    /// The JWK `crv` name (`"P-256"`, `"P-384"`), also WebCrypto's `namedCurve`.
    pub const fn jwk_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }
}

/// A verifier key in the form a host's crypto imports, checked by core when the verifier was
/// built (sizes, RSA modulus and exponent, points on the curve). `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKey {
    /// An HMAC secret (HS256/384/512).
    Secret(Vec<u8>),
    /// An RSA public key (RS*/PS*): big-endian modulus and public exponent, without leading
    /// zero bytes.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An EC public key (ES256 on P-256, ES384 on P-384): the affine coordinates, each exactly
    /// the curve's size (32 / 48 bytes).
    Ec {
        /// The curve.
        curve: Curve,
        /// x coordinate.
        x: Vec<u8>,
        /// y coordinate.
        y: Vec<u8>,
    },
    /// An Ed25519 public key (EdDSA): 32 bytes.
    Ed25519 {
        /// The encoded point.
        x: Vec<u8>,
    },
}

impl HostKey {
    /// An RSA key from big-endian components (leading zero bytes dropped: JWK's form).
    pub(super) fn rsa(n: &[u8], e: &[u8]) -> HostKey {
        let strip = |b: &[u8]| {
            let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b.get(first..).unwrap_or_default().to_vec()
        };
        HostKey::Rsa {
            n: strip(n),
            e: strip(e),
        }
    }

    /// The key as a JWK (RFC 7517/7518/8037) with only its key members — `kty` and `k`; `n`,
    /// `e`; `crv`, `x`, `y`; `crv`, `x` — and no `alg`, `use` or `key_ops`: what Node's
    /// `createPublicKey({ format: "jwk" })` and WebCrypto's `importKey("jwk", …)` take. An
    /// `oct` JWK carries the secret.
    pub fn jwk(&self) -> Map<String, Value> {
        let b64 = |b: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(b));
        let mut m = Map::new();
        match self {
            HostKey::Secret(k) => {
                m.insert("kty".into(), "oct".into());
                m.insert("k".into(), b64(k));
            }
            HostKey::Rsa { n, e } => {
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64(n));
                m.insert("e".into(), b64(e));
            }
            HostKey::Ec { curve, x, y } => {
                m.insert("kty".into(), "EC".into());
                m.insert("crv".into(), curve.jwk_name().into());
                m.insert("x".into(), b64(x));
                m.insert("y".into(), b64(y));
            }
            HostKey::Ed25519 { x } => {
                m.insert("kty".into(), "OKP".into());
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), b64(x));
            }
        }
        m
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostKey::Secret(k) => write!(f, "HostKey::Secret(<{} bytes>)", k.len()),
            HostKey::Rsa { n, .. } => write!(f, "HostKey::Rsa(<{} bits>)", n.len() * 8),
            HostKey::Ec { curve, .. } => write!(f, "HostKey::Ec({})", curve.jwk_name()),
            HostKey::Ed25519 { .. } => f.write_str("HostKey::Ed25519"),
        }
    }
}

/// The candidate keys of a [`Prepared`] (one, without an allocation, almost always).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Candidates {
    One([usize; 1]),
    Several(Vec<usize>),
}

/// A token that passed every check before the signature; its signature is the host's to
/// check (see the [module docs](self)). Holds the parsed claims until [`Verifier::finish`].
/// `Debug` shows neither the claims nor the signature.
#[must_use = "a prepared token is not verified until its signature is checked and it is finished"]
#[derive(Clone, PartialEq)]
pub struct Prepared {
    alg: Algorithm,
    /// Candidate keys in the order to try; never empty.
    keys: Candidates,
    signing_input_len: usize,
    /// The prepared token's length (a check that `check_signature` is given the same one).
    token_len: usize,
    signature: Vec<u8>,
    kid: Option<String>,
    times: TimeClaims,
    iss: Option<String>,
    aud: Vec<String>,
    /// Every claim when prepared for [`Verifier::verify`]; `None` when prepared by
    /// [`Verifier::prepare`] (only the interpreted claims were kept: parsed in `finish`).
    claims: Option<Map<String, Value>>,
    /// The `aud` claim is present (even as `[]`).
    has_aud: bool,
    claims_json: String,
}

impl Prepared {
    /// The pinned algorithm the signature must be checked with (the token's `alg`).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The keys that may have signed the token, as indices for [`Verifier::host_key`], in the
    /// order to try them: the signature is valid when it verifies under any one. Never empty;
    /// more than one only for a JWKS with several usable keys under the token's `kid`.
    pub fn key_indices(&self) -> &[usize] {
        match &self.keys {
            Candidates::One(one) => one,
            Candidates::Several(several) => several,
        }
    }

    /// The signing input's byte range in the token: always `0..n`, the header and payload
    /// segments with the `.` between them (RFC 7515 §5.2), in the token's ASCII bytes.
    pub fn signing_input(&self) -> Range<usize> {
        0..self.signing_input_len
    }

    /// The decoded signature in its JOSE form (for ECDSA `r ‖ s`, IEEE P1363).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The header's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// `iat`/`nbf`/`exp` in ms, as [`Verified::times`] will have them.
    pub fn times(&self) -> TimeClaims {
        self.times
    }

    /// The payload's JSON text, as [`Verified::claims_json`] will have it.
    pub fn claims_json(&self) -> &str {
        &self.claims_json
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("alg", &self.alg)
            .field("keys", &self.key_indices())
            .field("kid", &self.kid)
            .field("signing_input", &self.signing_input())
            .field(
                "signature",
                &format_args!("<{} bytes>", self.signature.len()),
            )
            .field(
                "claims",
                &format_args!("<{} bytes>", self.claims_json.len()),
            )
            .finish()
    }
}

impl Verifier {
    /// Every check before the signature (see the [module docs](self)): size → bare compact
    /// form → parsing → `alg` pinned → no `crit` → key selection and key/algorithm fit. The
    /// errors are [`Verifier::verify`]'s for the same token.
    pub fn prepare(&self, token: &str) -> Result<Prepared, VerifyError> {
        self.prepare_with(token, Members::Interpreted(&[]))
    }

    /// [`Verifier::prepare`], keeping every claim when `claims` is `All` ([`Verifier::verify`]
    /// returns them all: one parse serves both).
    pub(super) fn prepare_with(
        &self,
        token: &str,
        claims: Members,
    ) -> Result<Prepared, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::TokenTooLarge { len: token.len() });
        }
        // The header's `crit` only needs to be seen; other parameters are not kept.
        let read = peek::read(token, Members::Interpreted(&["crit"]), claims).map_err(from_peek)?;
        if !read.bare {
            return Err(VerifyError::MalformedToken {
                reason: "not_bare_token",
                what: None,
            });
        }
        let peek::Read {
            alg,
            kid,
            times,
            iss,
            aud,
            header,
            claims,
            payload,
            signature,
            ..
        } = read;

        let alg = Algorithm::from_name(&alg);
        let alg = match alg {
            Some(a) if self.options.algorithms.contains(&a) => a,
            other => return Err(VerifyError::AlgorithmNotAllowed { alg: other }),
        };
        if header.get("crit").is_some() {
            return Err(VerifyError::MalformedToken {
                reason: "unsupported_crit",
                what: Some("crit"),
            });
        }
        // A bare token that peek split into three segments has two dots.
        let signing_input_len = token.rfind('.').ok_or(VerifyError::MalformedToken {
            reason: "malformed_token",
            what: None,
        })?;
        let keys = self.select_keys(kid.as_deref(), alg)?;
        // peek checked that the payload is UTF-8.
        let claims_json = String::from_utf8(payload).map_err(|_| {
            from_peek(PeekError::InvalidUtf8 {
                segment: Segment::Payload,
            })
        })?;
        let has_aud = claims.get("aud").is_some();
        Ok(Prepared {
            alg,
            keys,
            signing_input_len,
            token_len: token.len(),
            signature,
            kid,
            times,
            iss,
            aud,
            claims: match claims {
                Object::Map(map) => Some(map),
                Object::Slots { .. } => None,
            },
            has_aud,
            claims_json,
        })
    }

    /// Core's own check of a prepared token's signature, what [`Verifier::verify`] does:
    /// HMAC with each key's prepared state, the other algorithms with `jsonwebtoken`, under
    /// each candidate key in turn. `token` must be the string given to `prepare` (another one
    /// fails). `Err` is what `verify` returns: `invalid_signature`, or `invalid_key` for a key
    /// the backend refuses.
    pub fn check_signature(&self, prepared: &Prepared, token: &str) -> Result<(), VerifyError> {
        let (message, signature) = match token.split_at_checked(prepared.signing_input_len) {
            Some((m, s)) if token.len() == prepared.token_len => (m, s),
            _ => return Err(VerifyError::InvalidSignature),
        };
        // `prepare` found the `.` there: skip it.
        let signature = signature.get(1..).unwrap_or_default();
        let mut last = VerifyError::InvalidSignature;
        for &i in prepared.key_indices() {
            let Some(entry) = self.keys.get(i) else {
                continue;
            };
            match verify_with(
                entry,
                prepared.alg,
                message.as_bytes(),
                signature,
                &prepared.signature,
            ) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The key at `index` (an entry of [`Prepared::key_indices`]) in the form a host imports;
    /// `None` for an index out of range or a key only core can check (an EC key given as a
    /// compressed point). Import each key once, when the verifier is built.
    pub fn host_key(&self, index: usize) -> Option<&HostKey> {
        self.keys.get(index)?.host.as_ref()
    }

    /// Every check after the signature, given the host's [`SignatureCheck`]: `Invalid` is
    /// `invalid_signature`; then required claims → `iss` → `aud` → `exp` → `nbf` → `iat` in
    /// the future → `max_age_ms`, at the verifier's wall-clock time `now`. `Ok` exactly when
    /// [`Verifier::finish`] would return the token as verified; a host that builds its own
    /// result from [`Prepared::claims_json`] and [`Prepared::times`] calls this instead.
    pub fn decide(
        &self,
        prepared: &Prepared,
        signature: SignatureCheck,
        now: UnixMillis,
    ) -> Result<(), VerifyError> {
        if signature != SignatureCheck::Valid {
            return Err(VerifyError::InvalidSignature);
        }
        let Prepared {
            times, iss, aud, ..
        } = prepared;
        let opts = &self.options;
        if opts.require_exp && times.exp_ms.is_none() {
            return Err(VerifyError::MissingClaim { claim: "exp" });
        }
        if opts.max_age_ms.is_some() && times.iat_ms.is_none() {
            return Err(VerifyError::MissingClaim { claim: "iat" });
        }
        if let Some(expected) = &opts.issuer {
            match iss {
                None => return Err(VerifyError::MissingClaim { claim: "iss" }),
                Some(iss) if iss != expected => return Err(VerifyError::InvalidIssuer),
                Some(_) => {}
            }
        }
        if opts.audience.is_empty() {
            if !aud.is_empty() {
                return Err(VerifyError::InvalidAudience);
            }
        } else if !prepared.has_aud {
            return Err(VerifyError::MissingClaim { claim: "aud" });
        } else if !aud
            .iter()
            .any(|a| opts.audience.iter().any(|want| want == a))
        {
            return Err(VerifyError::InvalidAudience);
        }
        check_times(times, now.as_millis(), opts.leeway_ms, opts.max_age_ms)
    }

    /// [`Verifier::decide`], then the verified token: what [`Verifier::verify`] returns for it.
    pub fn finish(
        &self,
        prepared: Prepared,
        signature: SignatureCheck,
        now: UnixMillis,
    ) -> Result<Verified, VerifyError> {
        self.decide(&prepared, signature, now)?;
        let Prepared {
            alg,
            kid,
            times,
            claims,
            claims_json,
            ..
        } = prepared;
        let claims = match claims {
            Some(claims) => claims,
            // The same text was accepted as a JSON object by the scan in `prepare`.
            None => serde_json::from_str(&claims_json).map_err(|_| {
                from_peek(PeekError::InvalidJson {
                    segment: Segment::Payload,
                })
            })?,
        };
        Ok(Verified {
            alg,
            kid,
            claims,
            times,
            claims_json,
        })
    }

    /// The candidate keys for `kid`/`alg`, in the order to try them (see
    /// [`super::KeySource`]): a single key must fit (and match a `kid` both have); in a JWKS, a
    /// `kid` selects the keys with that `kid` that fit, and no `kid` the one key that fits.
    fn select_keys(&self, kid: Option<&str>, alg: Algorithm) -> Result<Candidates, VerifyError> {
        let mismatch = VerifyError::KeyAlgorithmMismatch { alg: Some(alg) };
        if self.single {
            let entry = self.keys.first().ok_or(mismatch.clone())?;
            if let (Some(want), Some(have)) = (kid, entry.kid.as_deref()) {
                if want != have {
                    return Err(VerifyError::UnknownKid { kid_in_token: true });
                }
            }
            if !entry.supports(alg) {
                return Err(mismatch);
            }
            return Ok(Candidates::One([0]));
        }
        match kid {
            Some(kid) => {
                let named = |e: &KeyEntry| e.kid.as_deref() == Some(kid);
                let mut fitting = (0..self.keys.len()).filter(|&i| {
                    self.keys
                        .get(i)
                        .is_some_and(|e| named(e) && e.supports(alg))
                });
                match (fitting.next(), fitting.next()) {
                    (Some(i), None) => return Ok(Candidates::One([i])),
                    (Some(i), Some(j)) => {
                        let mut all = vec![i, j];
                        all.extend(fitting);
                        return Ok(Candidates::Several(all));
                    }
                    (None, _) => {}
                }
                if self.keys.iter().any(named) {
                    return Err(mismatch);
                }
                // Also for a `kid` that names an entry skipped at construction (`use: enc`,
                // `key_ops` without `verify`, an unsupported curve, bad material): the token
                // chose it, so it is the token's error, not the configuration's.
                Err(VerifyError::UnknownKid { kid_in_token: true })
            }
            None => {
                let mut candidates = (0..self.keys.len())
                    .filter(|&i| self.keys.get(i).is_some_and(|k| k.supports(alg)));
                match (candidates.next(), candidates.next()) {
                    (Some(i), None) => Ok(Candidates::One([i])),
                    (None, _) => Err(mismatch),
                    (Some(_), Some(_)) => Err(VerifyError::UnknownKid {
                        kid_in_token: false,
                    }),
                }
            }
        }
    }
}
